using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Attune.Agents.Sandbox;

/// <summary>The outcome of a sandboxed call: a JSON result, or an error saying why there is none.</summary>
public sealed record SandboxResult(bool Ok, JsonNode? Result, string? Error, bool HostReplaced, double Milliseconds)
{
    /// <summary>The result as compact JSON text (<c>null</c> for an error).</summary>
    public string? ResultJson => Ok ? Result?.ToJsonString() ?? "null" : null;
}

/// <summary>
/// Runs compiled tool code out of process, in a tool host (Attune.Agents.ToolHost) that this
/// class starts, watches and replaces. Calls are serialized (one host, one call at a time).
/// Limits (<see cref="SandboxLimits"/>): the host's GC heap is capped by DOTNET_GCHeapHardLimit;
/// a watchdog kills the host when a call exceeds its wall-clock or CPU-time budget or the
/// host's working set grows past the cap; results longer than the output cap are refused by the
/// host, and a reply line longer than that (plus slack) kills it. A host that crashed (stack
/// overflow, fail-fast) or was killed is replaced on the next call; the call that killed it gets
/// an error and the sandbox keeps serving.
/// </summary>
public sealed class ToolSandbox : IToolRunner, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SandboxLimits _limits;
    private Host? _host;
    private long _nextId;
    private bool _disposed;

    public ToolSandbox(SandboxLimits? limits = null) => _limits = limits ?? SandboxLimits.Default;

    public SandboxLimits Limits => _limits;

    /// <summary>The operating-system layers around the host (the same for every sandbox of this process).</summary>
    public SandboxIsolation Isolation => SandboxIsolation.Current;

    /// <summary>The running host's process id (null before the first start and after a kill, until the next call starts one).</summary>
    public int? HostProcessId => _host is { } h && !h.Process.HasExited ? h.Process.Id : null;

    /// <summary>How many hosts were started (1 + replacements).</summary>
    public int HostsStarted { get; private set; }

    /// <summary>Checks and compiles <paramref name="source"/>, then calls its entry method with <paramref name="arguments"/>.</summary>
    public Task<SandboxResult> RunSourceAsync(string source, JsonObject arguments, CancellationToken ct = default)
    {
        CompiledTool tool;
        try
        {
            tool = ToolCompiler.Compile(source);
        }
        catch (ToolRejectedException ex)
        {
            return Task.FromResult(new SandboxResult(false, null, ex.Message, false, 0));
        }

        return CallAsync(tool, arguments, ct);
    }

    /// <summary>Starts the host now (otherwise the first call does).</summary>
    public async Task WarmUpAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _host ??= await StartAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Calls <paramref name="tool"/>'s entry method in the host.</summary>
    public async Task<SandboxResult> CallAsync(CompiledTool tool, JsonObject arguments, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(arguments);
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        try
        {
            var replaced = false;
            if (_host is { } old && old.Process.HasExited)
            {
                old.Dispose();
                _host = null;
            }

            if (_host is null)
            {
                replaced = HostsStarted > 0;
                _host = await StartAsync(ct).ConfigureAwait(false);
            }

            var host = _host;
            var id = Interlocked.Increment(ref _nextId);
            var request = host.Request;
            request.SetLength(0);
            using (var w = new Utf8JsonWriter(request))
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("key", tool.Key);
                w.WriteString("type", tool.TypeName);
                w.WriteString("method", tool.MethodName);
                w.WritePropertyName("args");
                arguments.WriteTo(w);
                w.WriteNumber("maxOutput", _limits.OutputChars);
                if (host.Loaded.Add(tool.Key))
                {
                    w.WriteBase64String("assembly", tool.Image);
                }

                w.WriteEndObject();
            }

            request.WriteByte((byte)'\n');
            try
            {
                var stdin = host.Input.BaseStream;
                if (host.CanPoll)
                {
                    // A plain write: the pipe takes a request at once (the host is idle, reading).
                    stdin.Write(request.GetBuffer(), 0, (int)request.Length);
                    stdin.Flush();
                }
                else
                {
                    await stdin.WriteAsync(request.GetBuffer().AsMemory(0, (int)request.Length), ct).ConfigureAwait(false);
                    await stdin.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
                Kill();
                return new SandboxResult(false, null, "tool host crashed before the call (replaced)", true, clock.Elapsed.TotalMilliseconds);
            }

            string? line;
            string failure;
            try
            {
                (line, failure) = await ReadReplyAsync(host, clock, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The host is still busy with the abandoned call (and would answer it later): replace it.
                Kill();
                throw;
            }

            if (line is null)
            {
                Kill();
                return new SandboxResult(false, null, failure + "; the tool host was replaced", true, clock.Elapsed.TotalMilliseconds);
            }

            var reply = JsonNode.Parse(line)!.AsObject();
            if (reply["id"]?.GetValue<long>() != id)
            {
                Kill();
                return new SandboxResult(false, null, $"tool host answered request {reply["id"]?.ToJsonString() ?? "?"} instead of {id}; the tool host was replaced", true, clock.Elapsed.TotalMilliseconds);
            }

            var ok = reply["ok"]?.GetValue<bool>() == true;
            if (reply["fatal"]?.GetValue<bool>() == true)
            {
                Kill();
                replaced = true;
            }

            return ok
                ? new SandboxResult(true, reply["result"]?.DeepClone(), null, replaced, clock.Elapsed.TotalMilliseconds)
                : new SandboxResult(false, null, reply["error"]?.GetValue<string>() ?? "error", replaced, clock.Elapsed.TotalMilliseconds);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>How long a call's reply is waited for on the calling thread before the wait goes async (Unix).</summary>
    private const int SyncWaitMilliseconds = 2;

    private async Task<(string? Line, string Failure)> ReadReplyAsync(Host host, Stopwatch clock, CancellationToken ct)
    {
        var maxBytes = _limits.OutputChars + 4096;
        // The CPU-time baseline is taken at the first watchdog tick (20 ms), so that quick calls pay
        // no /proc read; CPU spent before it counts against the wall clock only.
        TimeSpan? cpuBefore = null;
        if (host.CanPoll)
        {
            // Unix: most tools answer within a few milliseconds, and for that long this thread waits
            // on the pipe itself (poll(2)), so the reply wakes it directly instead of passing through
            // the socket engine and the thread pool (docs/agents.md has the measurement). A
            // longer call goes on below without holding a thread.
            var status = host.PollLine(maxBytes, SyncWaitMilliseconds, out var line);
            if (status != Host.ReadStatus.TimedOut)
            {
                return Outcome(status, line, host);
            }
        }

        var read = host.ReadLineAsync(maxBytes);
        while (true)
        {
            var done = await Task.WhenAny(read, Task.Delay(20, ct)).ConfigureAwait(false);
            if (done == read)
            {
                var (line, status) = await read.ConfigureAwait(false);
                return Outcome(status, line, host);
            }

            ct.ThrowIfCancellationRequested();
            if (Watchdog(host, clock, ref cpuBefore) is { } failure)
            {
                return (null, failure);
            }
        }
    }

    private (string? Line, string Failure) Outcome(Host.ReadStatus status, string? line, Host host) => status switch
    {
        Host.ReadStatus.Line => (line, ""),
        Host.ReadStatus.TooLong => (null, $"output limit exceeded ({_limits.OutputChars} characters)"),
        _ => (null, $"tool host crashed (exit code {ExitCode(host.Process)})"),
    };

    /// <summary>Null while the call is within its limits; else why it is not.</summary>
    private string? Watchdog(Host host, Stopwatch clock, ref TimeSpan? cpuBefore)
    {
        if (clock.Elapsed > _limits.WallClock)
        {
            return $"wall-clock limit exceeded ({_limits.WallClock.TotalSeconds:0.###} s)";
        }

        var cpu = CpuTime(host.Process);
        cpuBefore ??= cpu;
        if (cpu - cpuBefore > _limits.CpuTime)
        {
            return $"CPU-time limit exceeded ({_limits.CpuTime.TotalSeconds:0.###} s)";
        }

        host.Process.Refresh();
        if (!host.Process.HasExited && host.Process.WorkingSet64 > _limits.WorkingSetBytes)
        {
            return $"memory limit exceeded (working set {host.Process.WorkingSet64 >> 20} MB > {_limits.WorkingSetBytes >> 20} MB)";
        }

        return null;
    }

    private static TimeSpan CpuTime(Process process)
    {
        try
        {
            process.Refresh();
            return process.HasExited ? TimeSpan.Zero : process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero;
        }
    }

    private static string ExitCode(Process process)
    {
        try
        {
            return process.WaitForExit(2000) ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
        }
        catch (InvalidOperationException)
        {
            return "unknown";
        }
    }

    private void Kill()
    {
        _host?.Dispose();
        _host = null;
    }

    private async Task<Host> StartAsync(CancellationToken ct)
    {
        var start = HostLauncher.StartInfo(_limits);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the tool host");
        // The host itself writes nothing on stderr; what comes there before it is ready (from the .NET host or the
        // isolation wrappers) says why it did not start.
        var early = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line && early.Count < 5)
            {
                early.Enqueue(line);
            }
        };
        process.BeginErrorReadLine();
        HostsStarted++;
        var host = new Host(process);
        var ready = host.ReadLineAsync(1024);
        var started = await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(30), ct)).ConfigureAwait(false) == ready
            && (await ready.ConfigureAwait(false)).Status == Host.ReadStatus.Line;
        if (!started)
        {
            host.Dispose();
            var said = early.IsEmpty ? "" : ": " + string.Join(" | ", early);
            throw new InvalidOperationException($"the tool host ({HostLauncher.Plan.HostDll}; {Isolation.Summary}) did not start{said}");
        }

        return host;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Kill();
        _gate.Dispose();
    }

    private sealed class Host(Process process) : IDisposable
    {
        private readonly Stream _stdout = process.StandardOutput.BaseStream;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private readonly MemoryStream _line = new();
        private int _start;
        private int _end;

        public enum ReadStatus
        {
            Line,
            TimedOut,
            EndOfStream,
            TooLong,
        }

        public Process Process { get; } = process;

        public StreamWriter Input { get; } = process.StandardInput;

        /// <summary>Whether replies are read with poll(2) and read(2) on the pipe (Linux and macOS).</summary>
        public bool CanPoll { get; } = UnixPipe.Supported && process.StandardOutput.BaseStream is System.IO.Pipes.PipeStream;

        /// <summary>The buffer requests are written into (one call at a time).</summary>
        public MemoryStream Request { get; } = new();

        public HashSet<string> Loaded { get; } = new(StringComparer.Ordinal);

        /// <summary>
        /// Reads one line (UTF-8), waiting at most <paramref name="waitMs"/> for more bytes; a partial
        /// line is kept for the next call when the wait runs out.
        /// </summary>
        public ReadStatus PollLine(int maxBytes, int waitMs, out string? line)
        {
            var fd = (int)((System.IO.Pipes.PipeStream)_stdout).SafePipeHandle.DangerousGetHandle();
            var deadline = Environment.TickCount64 + waitMs;
            while (true)
            {
                if (TakeLine(maxBytes, out line) is { } status)
                {
                    return status;
                }

                var wait = (int)Math.Max(0, deadline - Environment.TickCount64);
                var n = UnixPipe.Read(fd, _buffer, wait);
                if (n == UnixPipe.TimedOut)
                {
                    return ReadStatus.TimedOut;
                }

                if (n == 0)
                {
                    return ReadStatus.EndOfStream;
                }

                _start = 0;
                _end = n;
            }
        }

        /// <summary>The same as <see cref="PollLine"/> without a time limit, with async reads.</summary>
        public async Task<(string? Line, ReadStatus Status)> ReadLineAsync(int maxBytes)
        {
            while (true)
            {
                if (TakeLine(maxBytes, out var line) is { } status)
                {
                    return (line, status);
                }

                var n = await _stdout.ReadAsync(_buffer).ConfigureAwait(false);
                if (n == 0)
                {
                    return (null, ReadStatus.EndOfStream);
                }

                _start = 0;
                _end = n;
            }
        }

        /// <summary>A whole line from the buffered bytes, TooLong, or null when more bytes are needed (all taken in).</summary>
        private ReadStatus? TakeLine(int maxBytes, out string? line)
        {
            line = null;
            var nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                _line.Write(_buffer, _start, nl - _start);
                _start = nl + 1;
                line = Encoding.UTF8.GetString(_line.GetBuffer(), 0, (int)_line.Length);
                _line.SetLength(0);
                return ReadStatus.Line;
            }

            _line.Write(_buffer, _start, _end - _start);
            _start = _end = 0;
            if (_line.Length > maxBytes)
            {
                _line.SetLength(0);
                return ReadStatus.TooLong;
            }

            return null;
        }

        public void Dispose()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Process.Kill(entireProcessTree: true);
                    Process.WaitForExit(2000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }

            Process.Dispose();
        }
    }
}

/// <summary>Where the <c>dotnet</c> muxer is: DOTNET_HOST_PATH, this process when it is dotnet, else <c>dotnet</c> on PATH.</summary>
public static class DotnetHost
{
    public static string Path
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p && File.Exists(p))
            {
                return p;
            }

            if (Environment.ProcessPath is { } self && System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                return self;
            }

            if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(System.IO.Path.Combine(root, "dotnet")))
            {
                return System.IO.Path.Combine(root, "dotnet");
            }

            return "dotnet";
        }
    }
}
