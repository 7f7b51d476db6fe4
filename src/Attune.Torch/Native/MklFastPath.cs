using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Attune.Torch.Native;

/// <summary>What <see cref="MklFastPath"/> did in this process.</summary>
public enum MklFastPathState
{
    /// <summary>The fast path is wanted but libtorch has not been used yet: it is set at torch's first native call.</summary>
    Pending,

    /// <summary>MKL's vendor check answers "Intel": MKL picks its code path by the CPU's features (AVX-512 here).</summary>
    Applied,

    /// <summary>Turned off by <c>ATTUNE_MKL_FAST_PATH=0</c> (or an unrecognised value).</summary>
    Disabled,

    /// <summary>An Intel CPU: MKL already takes its fastest path; nothing is changed.</summary>
    NotNeeded,

    /// <summary>Not x86-64 Linux, or the CPU lacks AVX-512: nothing is changed.</summary>
    NotApplicable,

    /// <summary>MKL had checked the CPU before Attune.Torch could set the answer (torch was used before Attune.Torch was loaded).</summary>
    TooLate,

    /// <summary>libtorch_cpu.so is not the code Attune knows (another libtorch or MKL version): nothing is changed.</summary>
    Refused,
}

/// <summary>The state and a one-line explanation for people.</summary>
public sealed record MklFastPathOutcome(MklFastPathState State, string Message);

/// <summary>
/// oneMKL 2024.0, linked statically into TorchSharp's libtorch_cpu.so, asks one question before its
/// first call, <c>mkl_serv_intel_cpu_true()</c> ("is the vendor GenuineIntel?"), and on any other
/// vendor takes its generic code path even where the CPU has AVX-512; its switches
/// (<c>MKL_ENABLE_INSTRUCTIONS</c>, <c>MKL_CBWR</c> and the exported <c>mkl_serv_enable_instructions</c>,
/// <c>mkl_serv_cbwr_set</c>) only restrict the path or are refused on such CPUs. The function caches its answer in a variable that starts at -1 ("not asked yet").
/// On x86-64 Linux, on a non-Intel CPU with AVX-512 (avx512f, cd, bw, dq and vl in /proc/cpuinfo),
/// Attune stores 1 in that variable before MKL's first call, after checking that the function's
/// code is exactly the one it knows (<c>mov eax,[rip+d]; test eax,eax; js; ret</c>) and that the
/// variable lies in libtorch_cpu.so's writable data. MKL then picks its code path from the CPU's
/// feature bits as on an Intel CPU (and reports it with <c>MKL_VERBOSE=1</c>). Nothing is written
/// anywhere else, no code is modified, and nothing happens on other processors, on Windows or macOS,
/// or with <c>ATTUNE_MKL_FAST_PATH=0</c>.
/// <para>
/// When: libtorch is not loaded just for this. When Attune.Torch is loaded, it registers a
/// <see cref="DllImportResolver"/> for TorchSharp that sets the variable at TorchSharp's first native
/// call (libtorch is loaded by then, MKL not yet called) and otherwise leaves resolution to the
/// runtime. Code that uses TorchSharp before touching any Attune.Torch type calls
/// <see cref="Ensure"/> first.
/// </para>
/// </summary>
public static class MklFastPath
{
    /// <summary>The switch: <c>0</c>, <c>off</c> or <c>false</c> turns the fast path off; unset, <c>1</c>, <c>on</c> or <c>true</c> leaves it on.</summary>
    public const string SwitchVariable = "ATTUNE_MKL_FAST_PATH";

    /// <summary>The exported function whose cached answer is set.</summary>
    internal const string VendorCheck = "mkl_serv_intel_cpu_true";

    /// <summary>The flags MKL's AVX-512 code path (Skylake-SP class) needs.</summary>
    internal static readonly string[] RequiredFlags = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"];

    private static readonly Lock Gate = new();
    private static volatile MklFastPathOutcome _outcome = new(MklFastPathState.Pending, "MKL fast path: not decided yet");
    private static string _cpu = "";

    /// <summary>What was done in this process (<see cref="MklFastPathState.Pending"/> until torch's first native call where the path is wanted).</summary>
    public static MklFastPathOutcome Outcome => _outcome;

#pragma warning disable CA2255 // A library module initializer: it must run before TorchSharp's first native call, and only registers a resolver (no native code, libtorch is not loaded here).
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install()
    {
        var linux = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;
        var cpuinfo = linux ? FirstProcessor("/proc/cpuinfo") : null;
        var decision = Decide(Environment.GetEnvironmentVariable(SwitchVariable), linux, cpuinfo);
        if (decision is not null)
        {
            _outcome = decision;
            return;
        }

        _cpu = DescribeCpu(cpuinfo!);
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, OnTorchSharpImport);
        }
        catch (InvalidOperationException)
        {
            // The application registered its own resolver for TorchSharp first; Ensure() still works.
            _outcome = new(MklFastPathState.Pending,
                "MKL fast path: pending; another DllImportResolver is registered for TorchSharp, so it is set only when MklFastPath.Ensure() is called before the first torch operation");
        }
    }

    /// <summary>
    /// Takes the decision now. Where the fast path is wanted and still pending, it loads libtorch
    /// (TorchSharp's CPU backend) and sets the path if MKL has not been called yet; elsewhere it does
    /// nothing (and loads nothing). Call it first in code that uses TorchSharp before any Attune.Torch
    /// type; calling it again does nothing.
    /// </summary>
    public static MklFastPathOutcome Ensure()
    {
        if (_outcome.State == MklFastPathState.Pending)
        {
            torch.InitializeDeviceType(DeviceType.CPU);   // the first native call: the resolver sets the path
            TryApply();                                    // in case the resolver could not be registered
        }

        return _outcome;
    }

    /// <summary>The line to log: the outcome, once libtorch is loaded in this process; null before (or where there is no /proc).</summary>
    public static string? Report() => LibtorchLoaded() ? _outcome.Message : null;

    private static IntPtr OnTorchSharpImport(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (_outcome.State == MklFastPathState.Pending)
        {
            TryApply();
        }

        return IntPtr.Zero;   // the runtime resolves the library as it would without this resolver
    }

    /// <summary>Sets MKL's cached vendor answer if libtorch is loaded and MKL has not asked yet; stays pending if libtorch is not loaded.</summary>
    internal static void TryApply()
    {
        lock (Gate)
        {
            if (_outcome.State != MklFastPathState.Pending)
            {
                return;
            }

            try
            {
                var maps = MemoryMaps.Read();
                var library = maps.FirstOrDefault(m => Path.GetFileName(m.Path) == "libtorch_cpu.so");
                if (library is null)
                {
                    return;   // not loaded yet: TorchSharp's next native call tries again
                }

                _outcome = Apply(library.Path, maps);
            }
#pragma warning disable CA1031 // This runs inside TorchSharp's first native call: a failure here must leave MKL as it was, never break torch.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _outcome = new(MklFastPathState.Refused, $"MKL fast path: not applied ({ex.GetType().Name}: {ex.Message})");
            }
        }
    }

    private static unsafe MklFastPathOutcome Apply(string libraryPath, IReadOnlyList<MemoryMaps.Region> maps)
    {
        var handle = NativeLibrary.Load(libraryPath);   // already loaded: only counts one more reference
        try
        {
            if (!NativeLibrary.TryGetExport(handle, VendorCheck, out var function))
            {
                return Refused($"{libraryPath} does not export {VendorCheck}");
            }

            var code = MemoryMaps.Find(maps, function);
            if (code is null || code.Path != libraryPath || !code.Readable || !code.Executable || function + VendorCheckCode.Length > code.End)
            {
                return Refused($"{VendorCheck} is not in an executable mapping of {libraryPath}");
            }

            var bytes = new ReadOnlySpan<byte>((void*)function, VendorCheckCode.Length);
            if (VendorCheckCode.CacheOffset(bytes) is not int offset)
            {
                return Refused($"{VendorCheck} in {libraryPath} is not the code Attune knows ({Convert.ToHexString(bytes)}); MKL left unchanged");
            }

            var cache = function + offset;
            var data = MemoryMaps.Find(maps, cache);
            if (data is null || data.Path != libraryPath || !data.Readable || !data.Writable || cache + sizeof(int) > data.End || cache % sizeof(int) != 0)
            {
                return Refused($"the cached answer of {VendorCheck} is not in writable data of {libraryPath}");
            }

            var before = Interlocked.CompareExchange(ref *(int*)cache, 1, -1);
            return before switch
            {
                -1 => new(MklFastPathState.Applied,
                    $"MKL fast path: on ({_cpu}): oneMKL's vendor check ({VendorCheck} in libtorch_cpu.so) answers Intel, so MKL picks its code path by the CPU's features (AVX-512); {SwitchVariable}=0 turns this off"),
                0 => new(MklFastPathState.TooLate,
                    "MKL fast path: not applied: MKL had already checked the CPU (torch was used before Attune.Torch was loaded); call Attune.Torch.Native.MklFastPath.Ensure() before the first torch operation"),
                1 => new(MklFastPathState.Applied, $"MKL fast path: on ({_cpu}): oneMKL's vendor check already answered Intel before Attune looked; nothing changed"),
                _ => Refused($"the cached answer of {VendorCheck} holds {before}, not -1, 0 or 1"),
            };
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    private static MklFastPathOutcome Refused(string why) => new(MklFastPathState.Refused, "MKL fast path: not applied: " + why);

    /// <summary>
    /// The decision that needs no native code: null where the fast path is wanted, else the outcome
    /// (switched off, not applicable, not needed). <paramref name="switchValue"/> is the value of
    /// <see cref="SwitchVariable"/>, <paramref name="cpuinfo"/> the text of /proc/cpuinfo (null where
    /// unreadable). Pure: tests use it to know what a machine should get.
    /// </summary>
    public static MklFastPathOutcome? Decide(string? switchValue, bool linuxX64, string? cpuinfo)
    {
        switch (switchValue?.Trim().ToUpperInvariant())
        {
            case null or "" or "1" or "ON" or "TRUE":
                break;
            case "0" or "OFF" or "FALSE":
                return new(MklFastPathState.Disabled, $"MKL fast path: off ({SwitchVariable}={switchValue})");
            default:
                return new(MklFastPathState.Disabled, $"MKL fast path: off: {SwitchVariable}='{switchValue}' is not 0, 1, on, off, true or false");
        }

        if (!linuxX64)
        {
            return new(MklFastPathState.NotApplicable, "MKL fast path: not applicable (only on x86-64 Linux)");
        }

        if (cpuinfo is null || CpuField(cpuinfo, "vendor_id") is not { } vendor)
        {
            return new(MklFastPathState.NotApplicable, "MKL fast path: not applied (/proc/cpuinfo unreadable)");
        }

        if (vendor == "GenuineIntel")
        {
            return new(MklFastPathState.NotNeeded, "MKL fast path: not needed (GenuineIntel: MKL picks its code path itself)");
        }

        var flags = (CpuField(cpuinfo, "flags") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var missing = RequiredFlags.Where(f => !flags.Contains(f)).ToList();
        return missing.Count == 0
            ? null
            : new(MklFastPathState.NotApplicable, $"MKL fast path: not applicable ({vendor} without {string.Join(", ", missing)}); MKL left unchanged");
    }

    /// <summary>The value of the first <paramref name="name"/> line of /proc/cpuinfo text.</summary>
    internal static string? CpuField(string cpuinfo, string name)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim() == name)
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }

    private static string DescribeCpu(string cpuinfo) =>
        $"{CpuField(cpuinfo, "vendor_id")} {CpuField(cpuinfo, "model name")}, {string.Join(" ", RequiredFlags)}";

    private static bool LibtorchLoaded()
    {
        try
        {
            return OperatingSystem.IsLinux() && MemoryMaps.Read().Any(m => Path.GetFileName(m.Path) == "libtorch_cpu.so");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The first processor's block of /proc/cpuinfo (the kernel generates the others only when read; on large machines that costs).</summary>
    private static string? FirstProcessor(string path)
    {
        try
        {
            var text = new System.Text.StringBuilder();
            foreach (var line in File.ReadLines(path))
            {
                if (line.Length == 0 && text.Length > 0)
                {
                    break;
                }

                text.Append(line).Append('\n');
            }

            return text.ToString();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>The machine code of <c>mkl_serv_intel_cpu_true</c> that Attune recognises, and where it keeps its answer.</summary>
internal static class VendorCheckCode
{
    /// <summary><c>mov eax,[rip+disp32]; test eax,eax; js +1; ret</c> — the first 11 bytes of oneMKL 2024.0's function.</summary>
    public const int Length = 11;

    /// <summary>
    /// The offset from the function's first byte to its cached answer (an int: -1 not asked yet,
    /// 0 not Intel, 1 Intel) when <paramref name="code"/> is the known sequence, else null.
    /// </summary>
    public static int? CacheOffset(ReadOnlySpan<byte> code)
    {
        if (code.Length < Length
            || code[0] != 0x8B || code[1] != 0x05                 // mov eax, [rip + disp32]
            || code[6] != 0x85 || code[7] != 0xC0                 // test eax, eax
            || code[8] != 0x78 || code[9] != 0x01                 // js +1 (to the cpuid path)
            || code[10] != 0xC3)                                  // ret
        {
            return null;
        }

        // rip-relative: from the end of the 6-byte mov.
        return 6 + BitConverter.ToInt32(code.Slice(2, 4));
    }
}

/// <summary>The process's memory mappings, from /proc/self/maps.</summary>
internal static class MemoryMaps
{
    public sealed record Region(nint Start, nint End, bool Readable, bool Writable, bool Executable, string Path);

    public static List<Region> Read() => Parse(File.ReadAllText("/proc/self/maps"));

    /// <summary>Parses lines such as <c>7f66093eb000-7f66093ec000 rw-p 00000000 08:01 1234   /path/lib.so</c>.</summary>
    public static List<Region> Parse(string text)
    {
        var regions = new List<Region>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            var dash = fields.Length >= 5 ? fields[0].IndexOf('-', StringComparison.Ordinal) : -1;
            if (dash < 0 || fields[1].Length < 3)
            {
                continue;
            }

            if (!long.TryParse(fields[0].AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
                || !long.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
            {
                continue;
            }

            var path = fields.Length > 5 ? fields[5].Trim() : "";
            regions.Add(new Region((nint)start, (nint)end, fields[1][0] == 'r', fields[1][1] == 'w', fields[1][2] == 'x', path));
        }

        return regions;
    }

    public static Region? Find(IReadOnlyList<Region> regions, nint address) =>
        regions.FirstOrDefault(r => address >= r.Start && address < r.End);
}
