using System.Runtime.InteropServices;

namespace Attune.Torch.Training;

/// <summary>
/// Gives freed native memory back to the operating system. libtorch frees a training step's
/// tensors, but glibc keeps the pages in its arenas, so without a trim the resident size creeps up
/// by tens of MB per step; <c>malloc_trim(0)</c> after each step keeps it flat.
/// </summary>
public static partial class NativeMemory
{
    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Calls glibc's <c>malloc_trim(0)</c>; does nothing where there is no glibc.</summary>
    public static void Trim()
    {
        if (_unavailable)
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;   // e.g. musl
        }
    }

    /// <summary>The peak resident set size of this process so far, in bytes (Linux: VmHWM), else the working set.</summary>
    public static long PeakResidentBytes()
    {
        if (OperatingSystem.IsLinux() && File.Exists("/proc/self/status"))
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
        }

        return Environment.WorkingSet;
    }

    /// <summary>Resets the peak resident size that <see cref="PeakResidentBytes"/> reads (Linux: writes 5 to /proc/self/clear_refs), so that a peak can be measured per step.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The current resident set size, in bytes.</summary>
    public static long ResidentBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
