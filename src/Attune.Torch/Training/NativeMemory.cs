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

    private static int _configured;

    /// <summary>
    /// Fixes glibc's allocator thresholds for training (once per process; Linux/glibc only, a no-op
    /// elsewhere). By default glibc raises its mmap threshold each time a large mmapped block is
    /// freed, so a training step's big tensors move between fresh mmaps (page faults and zeroing on
    /// every step) and the heap (where freed memory is kept and creeps). With the threshold fixed at
    /// 32 MB (glibc's largest), tensors below it are served and reused from the heap and the larger
    /// ones are always mapped and unmapped; with the trim threshold at 1 GB, the heap is not shrunk
    /// and regrown between steps. <see cref="Trim"/> still returns everything when asked. Measured on
    /// the 19M-parameter bench model: see docs/torch.md.
    /// </summary>
    public static void ConfigureForTraining()
    {
        if (_unavailable || Interlocked.Exchange(ref _configured, 1) == 1)
        {
            return;
        }

        try
        {
            const int mmapThreshold = -3, trimThreshold = -1;
            _ = MallOpt(mmapThreshold, 32 << 20);
            _ = MallOpt(trimThreshold, 1 << 30);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
