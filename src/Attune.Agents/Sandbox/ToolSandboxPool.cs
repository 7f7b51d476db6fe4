using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Attune.Agents.Sandbox;

/// <summary>Something that runs compiled tool code: one <see cref="ToolSandbox"/> or a <see cref="ToolSandboxPool"/>.</summary>
public interface IToolRunner
{
    Task<SandboxResult> CallAsync(CompiledTool tool, JsonObject arguments, CancellationToken ct = default);
}

/// <summary>
/// Several tool hosts, each a <see cref="ToolSandbox"/> with the same limits, so that concurrent
/// calls (e.g. several HTTP clients of one MCP server) run side by side and one slow or hostile
/// call does not hold up the others. A call takes a free host, waiting when all are busy.
/// </summary>
public sealed class ToolSandboxPool : IToolRunner, IDisposable
{
    private readonly List<ToolSandbox> _all;
    private readonly Channel<ToolSandbox> _free;

    public ToolSandboxPool(int hosts, SandboxLimits? limits = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hosts, 1);
        _all = [.. Enumerable.Range(0, hosts).Select(_ => new ToolSandbox(limits))];
        _free = Channel.CreateUnbounded<ToolSandbox>();
        foreach (var s in _all)
        {
            _free.Writer.TryWrite(s);
        }
    }

    public int Size => _all.Count;

    public async Task WarmUpAsync(CancellationToken ct = default)
    {
        foreach (var s in _all)
        {
            await s.WarmUpAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<SandboxResult> CallAsync(CompiledTool tool, JsonObject arguments, CancellationToken ct = default)
    {
        var sandbox = await _free.Reader.ReadAsync(ct).ConfigureAwait(false);
        try
        {
            return await sandbox.CallAsync(tool, arguments, ct).ConfigureAwait(false);
        }
        finally
        {
            _free.Writer.TryWrite(sandbox);
        }
    }

    public void Dispose()
    {
        _free.Writer.TryComplete();
        foreach (var s in _all)
        {
            s.Dispose();
        }
    }
}
