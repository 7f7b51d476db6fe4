using System.Runtime.InteropServices;

namespace Attune.Agents.Sandbox;

/// <summary>
/// Blocking reads with a time limit on a pipe's file descriptor, through poll(2) and read(2), so that
/// the sandbox waits for the tool host's reply on the calling thread (no socket-engine or thread-pool
/// hop between the reply arriving and the caller running).
/// </summary>
internal static partial class UnixPipe
{
    /// <summary><see cref="Read"/>'s result when the wait ran out with nothing to read.</summary>
    public const int TimedOut = -2;

    private const short PollIn = 0x001;
    private const int EIntr = 4;

    public static bool Supported => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

    private static int EAgain => OperatingSystem.IsLinux() ? 11 : 35;

    /// <summary>Reads into <paramref name="buffer"/> once data, end of stream or an error is there, waiting at most <paramref name="waitMs"/>.</summary>
    /// <returns>The bytes read (0 at end of stream), or <see cref="TimedOut"/>.</returns>
    public static int Read(int fd, byte[] buffer, int waitMs)
    {
        // A retry after an interrupted call waits only for what is left of waitMs.
        var deadline = Environment.TickCount64 + waitMs;
        while (true)
        {
            var poll = new PollFd { Fd = fd, Events = PollIn };
            var ready = Poll(ref poll, 1, (int)Math.Max(0, deadline - Environment.TickCount64));
            if (ready < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                {
                    continue;
                }

                throw new IOException($"poll on the tool host's output failed (errno {errno})");
            }

            if (ready == 0)
            {
                return TimedOut;
            }

            var n = ReadFd(fd, buffer, (nuint)buffer.Length);
            if (n >= 0)
            {
                return (int)n;
            }

            var error = Marshal.GetLastPInvokeError();
            if (error != EIntr && error != EAgain)
            {
                throw new IOException($"reading the tool host's output failed (errno {error})");
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadFd(int fd, [Out] byte[] buffer, nuint count);
}
