using System.Threading.Channels;
using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Serving;

/// <summary>One generated token of a sequence: its id, log-prob and top alternatives (when asked for), and whether it ends the sequence.</summary>
/// <param name="Id">The token id.</param>
/// <param name="LogProb">log p(token) under the model's own distribution (NaN when not asked for).</param>
/// <param name="TopIds">The most likely ids at this step, most likely first (null when not asked for).</param>
/// <param name="TopLogProbs">Their log-probs.</param>
/// <param name="IsEnd">The token is one of the sequence's end tokens (not part of the answer).</param>
/// <param name="IsLast">No token follows: an end token, the token limit or the context.</param>
public readonly record struct DecodedToken(int Id, float LogProb, int[]? TopIds, float[]? TopLogProbs, bool IsEnd, bool IsLast);

/// <summary>
/// Continuous batching over one model: sequences join and leave a running batch between steps, and
/// every step decodes one token of every sequence in one forward pass over a shared KV cache.
/// New sequences' prompts are read together (left-padded, grouped by length; a sequence with
/// soft tokens alone, spliced in), then their cache is left-padded (or the batch's is) to the same
/// length and stacked under the batch's; an attention mask keeps padding out of view and positions count real tokens only, so a
/// sequence decodes the same tokens in a batch as alone (up to float rounding of the batched product).
/// Finished or cancelled sequences are dropped from the cache, and columns that only padding still
/// holds are cut. One thread owns the model and the cache; other work on the model
/// (<see cref="RunAsync{T}"/>) runs on it between steps.
/// </summary>
public sealed class BatchDecoder : IDisposable
{
    private readonly CausalLM _model;
    private readonly int _maxBatch;
    private readonly object _lock = new();
    private readonly Queue<Sequence> _pending = new();
    private readonly Queue<Action> _work = new();
    private readonly List<Sequence> _rows = [];      // the batch, in cache row order (decoder thread only)
    private KvCache? _cache;
    private Thread? _thread;
    private bool _disposed;
    private int _active;
    private int _largestBatch;
    private long _steps;
    private long _tokens;

    public BatchDecoder(CausalLM model, int maxBatch = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _model = model;
        _maxBatch = maxBatch;
    }

    /// <summary>Sequences being decoded or waiting for their prompt to be read.</summary>
    public int ActiveSequences => Volatile.Read(ref _active);

    /// <summary>The most sequences one step has decoded together so far.</summary>
    public int LargestBatch => Volatile.Read(ref _largestBatch);

    /// <summary>Batched decoding steps so far.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Tokens generated so far (prompt reads included: each gives one token).</summary>
    public long GeneratedTokens => Interlocked.Read(ref _tokens);

    /// <summary>
    /// Starts a sequence: <paramref name="prompt"/> (with soft tokens <paramref name="prefix"/> [1, P, E]
    /// after its first <c>prefix.At</c> tokens, taken over by the decoder) continued up to
    /// <c>options.MaxNewTokens</c> tokens or an id of <paramref name="endIds"/>. With
    /// <paramref name="topLogProbs"/> ≥ 0 every token carries its log-prob and that many alternatives.
    /// Cancelling <paramref name="cancellationToken"/> drops the sequence before its next step; the reader then
    /// ends with an <see cref="OperationCanceledException"/>.
    /// </summary>
    public ChannelReader<DecodedToken> Start(int[] prompt, GenerationOptions options, SoftPrefix? prefix, int topLogProbs, IReadOnlyCollection<int> endIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endIds);
        if (prompt.Length == 0)
        {
            prefix?.Tokens.Dispose();
            throw new ArgumentException("the prompt encodes to no tokens");
        }

        var sequence = new Sequence(prompt, options, prefix, topLogProbs, endIds, cancellationToken, _model.Device, () => Interlocked.Decrement(ref _active));
        lock (_lock)
        {
            if (_disposed)
            {
                prefix?.Tokens.Dispose();
                throw new ObjectDisposedException(nameof(BatchDecoder));
            }

            _pending.Enqueue(sequence);
            Interlocked.Increment(ref _active);
            EnsureThread();
            Monitor.PulseAll(_lock);
        }

        return sequence.Output.Reader;
    }

    /// <summary>Runs <paramref name="work"/> on the decoder's thread between two steps (no gradients, its tensors disposed after).</summary>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _work.Enqueue(() =>
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    done.TrySetCanceled(cancellationToken);
                    return;
                }

                try
                {
                    using var noGrad = no_grad();
                    using var scope = NewDisposeScope();
                    done.TrySetResult(work());
                }
#pragma warning disable CA1031 // handed to the caller
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    done.TrySetException(ex);
                }
            });
            EnsureThread();
            Monitor.PulseAll(_lock);
        }

        return done.Task;
    }

    public void Dispose()
    {
        Thread? thread;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            thread = _thread;
            Monitor.PulseAll(_lock);
        }

        thread?.Join(TimeSpan.FromSeconds(30));
        lock (_lock)
        {
            foreach (var s in _pending)
            {
                s.Fail(new ObjectDisposedException(nameof(BatchDecoder)));
            }

            _pending.Clear();
        }

        foreach (var s in _rows)
        {
            s.Fail(new ObjectDisposedException(nameof(BatchDecoder)));
        }

        _rows.Clear();
        _cache?.Dispose();
        _cache = null;
    }

    private void EnsureThread()
    {
        if (_thread is null)
        {
            _thread = new Thread(Loop) { IsBackground = true, Name = "attune-batch-decoder" };
            _thread.Start();
        }
    }

    private void Loop()
    {
        while (true)
        {
            List<Sequence> admitted = [];
            List<Action> work = [];
            lock (_lock)
            {
                while (!_disposed && _pending.Count == 0 && _work.Count == 0 && _rows.Count == 0)
                {
                    Monitor.Wait(_lock);
                }

                if (_disposed)
                {
                    return;
                }

                while (_pending.Count > 0 && _rows.Count + admitted.Count < _maxBatch)
                {
                    admitted.Add(_pending.Dequeue());
                }

                while (_work.Count > 0)
                {
                    work.Add(_work.Dequeue());
                }
            }

            foreach (var w in work)
            {
                w();
            }

            try
            {
                foreach (var group in PrefillGroups(admitted))
                {
                    Prefill(group);
                }

                if (_rows.Count > 0)
                {
                    Step();
                }
            }
#pragma warning disable CA1031 // a failed step fails its sequences, not the decoder
            catch (Exception ex)
#pragma warning restore CA1031
            {
                foreach (var s in _rows.Concat(admitted).Distinct())
                {
                    s.Fail(ex);
                }

                _rows.Clear();
                _cache?.Dispose();
                _cache = null;
            }
        }
    }

    /// <summary>
    /// Groups the new sequences whose prompts are read together: those with soft tokens alone, the
    /// others by length, as long as left padding adds at most half again to the tokens read.
    /// </summary>
    private static List<List<Sequence>> PrefillGroups(List<Sequence> admitted)
    {
        var groups = admitted.Where(s => s.Prefix is not null).Select(s => new List<Sequence> { s }).ToList();
        List<Sequence>? group = null;
        long sum = 0;
        foreach (var s in admitted.Where(s => s.Prefix is null).OrderBy(s => s.Prompt.Length))
        {
            var length = s.Prompt.Length;   // the longest so far: lengths ascend
            if (group is null || (group.Count + 1L) * length * 2 > (sum + length) * 3)
            {
                group = [];
                groups.Add(group);
                sum = 0;
            }

            group.Add(s);
            sum += length;
        }

        return groups;
    }

    /// <summary>
    /// Reads new sequences' prompts in one pass (left-padded to the longest; one sequence may carry
    /// soft tokens), picks each one's first token, and adds them to the batch; those that first
    /// token ended leave it again at once.
    /// </summary>
    private void Prefill(List<Sequence> group)
    {
        foreach (var s in group.Where(s => s.Cancellation.IsCancellationRequested).ToList())
        {
            s.Fail(new OperationCanceledException(s.Cancellation));
            group.Remove(s);
        }

        if (group.Count == 0)
        {
            return;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var cache = new KvCache(_model.Config.NumLayers);
        try
        {
            var longest = group.Max(s => s.Prompt.Length);
            Tensor hidden;
            if (group.Count == 1)
            {
                hidden = PromptHidden(_model, group[0].Prompt, group[0].Prefix, cache);        // [1, L (+P), E]
                group[0].DisposePrefix();
            }
            else
            {
                var ids = new long[group.Count * longest];
                var mask = new long[group.Count * longest];
                for (var r = 0; r < group.Count; r++)
                {
                    var prompt = group[r].Prompt;
                    var offset = (r * longest) + longest - prompt.Length;
                    for (var j = 0; j < prompt.Length; j++)
                    {
                        ids[offset + j] = prompt[j];
                        mask[offset + j] = 1;
                    }
                }

                hidden = _model.Hidden(
                    tensor(ids, [group.Count, longest], device: _model.Device),
                    tensor(mask, [group.Count, longest], device: _model.Device),
                    cache: cache);                                                                 // [N, L, E]
            }

            var logits = _model.Head(hidden[.., -1]);                                              // [N, V]
            var pads = group.Select(s => cache.Length - (group.Count == 1 ? cache.Length : s.Prompt.Length)).ToArray();
            for (var r = 0; r < group.Count; r++)
            {
                group[r].Length = cache.Length - pads[r];
            }

            var over = Emit(group, logits);
            if (_cache is null || _rows.Count == 0)
            {
                _cache?.Dispose();
                _cache = cache;
            }
            else
            {
                // Whichever is shorter, the new rows' cache or the batch's, is left-padded to the other's length.
                var (length, batch) = (cache.Length, _cache.Length);
                if (length < batch)
                {
                    cache.PadLeft(batch - length);
                    for (var r = 0; r < pads.Length; r++)
                    {
                        pads[r] += batch - length;
                    }
                }
                else
                {
                    _cache.PadLeft(length - batch);
                    foreach (var row in _rows)
                    {
                        row.Pad += (int)(length - batch);
                    }
                }

                _cache.AppendRows(cache);
                cache.Dispose();
            }

            for (var r = 0; r < group.Count; r++)
            {
                group[r].Pad = (int)pads[r];
            }

            _rows.AddRange(group);
            Compact([.. group.Where((_, r) => over[r])], cancelled: false);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <summary>One token of every sequence in the batch.</summary>
    private void Step()
    {
        Compact(_rows.Where(r => r.Cancellation.IsCancellationRequested).ToList(), cancelled: true);
        if (_rows.Count == 0)
        {
            return;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var b = _rows.Count;
        var device = _model.Device;
        var input = tensor(_rows.Select(r => r.Next).ToArray(), [b, 1], device: device);
        Tensor? mask = null;
        if (_rows.Any(r => r.Pad > 0))
        {
            // [B, S + 1]: row i's first Pad columns are padding; the new column is real for every row.
            var columns = arange(0, _cache!.Length + 1, dtype: ScalarType.Int64, device: device).unsqueeze(0);
            var pads = tensor(_rows.Select(r => (long)r.Pad).ToArray(), [b, 1], device: device);
            mask = columns.ge(pads).to_type(ScalarType.Int64);
        }

        var logits = _model.Forward(input, mask, cache: _cache)[.., -1];                     // [B, V]
        Interlocked.Increment(ref _steps);
        if (b > _largestBatch)
        {
            Volatile.Write(ref _largestBatch, b);
        }

        foreach (var r in _rows)
        {
            r.Length++;
        }

        var finished = Emit(_rows, logits);
        Compact([.. _rows.Where((_, i) => finished[i])], cancelled: false);
    }

    /// <summary>Picks each row's next token from logits [B, V], sends it, and says which rows are over.</summary>
    private bool[] Emit(IReadOnlyList<Sequence> rows, Tensor logits)
    {
        var n = rows.Count;
        var ids = new long[n];
        var greedy = rows.Select(r => r.Options.IsGreedy).ToArray();
        if (greedy.Any(g => g))
        {
            var best = logits.argmax(-1).data<long>().ToArray();
            for (var i = 0; i < n; i++)
            {
                ids[i] = best[i];
            }
        }

        for (var i = 0; i < n; i++)
        {
            if (!greedy[i])
            {
                ids[i] = Generation.Pick(logits.narrow(0, i, 1), rows[i].Options, rows[i].Generator).item<long>();
            }
        }

        float[]? chosen = null;
        float[]? topValues = null;
        long[]? topIds = null;
        var k = rows.Max(r => r.TopLogProbs);
        if (k >= 0)
        {
            var logp = logits.log_softmax(-1);                                                  // [B, V]
            chosen = logp.gather(1, tensor(ids, [n, 1], device: logits.device)).squeeze(1).to_type(ScalarType.Float32).data<float>().ToArray();
            if (k > 0)
            {
                var (values, indices) = logp.topk((int)Math.Min(k, logp.shape[1]), dim: -1);
                topValues = values.to_type(ScalarType.Float32).data<float>().ToArray();
                topIds = indices.data<long>().ToArray();
            }
        }

        var over = new bool[n];
        var width = topIds is null ? 0 : topIds.Length / n;
        for (var i = 0; i < n; i++)
        {
            var s = rows[i];
            var id = (int)ids[i];
            s.Generated++;
            Interlocked.Increment(ref _tokens);
            var isEnd = s.EndIds.Contains(id);
            var isLast = isEnd || s.Generated >= s.Options.MaxNewTokens || s.Length >= _model.Config.MaxPositionEmbeddings;
            int[]? tops = null;
            float[]? topLp = null;
            if (s.TopLogProbs > 0 && topIds is not null)
            {
                tops = [.. topIds.Skip(i * width).Take(s.TopLogProbs).Select(x => (int)x)];
                topLp = [.. topValues!.Skip(i * width).Take(s.TopLogProbs)];
            }

            s.Output.Writer.TryWrite(new DecodedToken(id, s.TopLogProbs >= 0 ? chosen![i] : float.NaN, tops, topLp, isEnd, isLast));
            s.Next = id;
            over[i] = isLast;
        }

        return over;
    }

    /// <summary>Drops <paramref name="gone"/> from the batch and its cache, and cuts the columns only padding still holds.</summary>
    private void Compact(List<Sequence> gone, bool cancelled)
    {
        if (gone.Count == 0)
        {
            return;
        }

        foreach (var s in gone)
        {
            if (cancelled)
            {
                s.Fail(new OperationCanceledException(s.Cancellation));
            }
            else
            {
                s.Complete();
            }
        }

        var keep = _rows.Select((r, i) => (r, i)).Where(x => !gone.Contains(x.r)).ToList();
        _rows.Clear();
        _rows.AddRange(keep.Select(x => x.r));
        if (_rows.Count == 0)
        {
            _cache?.Dispose();
            _cache = null;
            return;
        }

        using var scope = NewDisposeScope();
        _cache!.Select(tensor(keep.Select(x => (long)x.i).ToArray(), device: _model.Device));
        var trim = _rows.Min(r => r.Pad);
        if (trim > 0)
        {
            _cache.TrimLeft(trim);
            foreach (var r in _rows)
            {
                r.Pad -= trim;
            }
        }
    }

    /// <summary>
    /// Final hidden states [1, L (+P), E] of a prompt, with soft tokens spliced in after its first
    /// <c>prefix.At</c> tokens when given; the keys and values go to <paramref name="cache"/> when given.
    /// </summary>
    internal static Tensor PromptHidden(CausalLM model, int[] prompt, SoftPrefix? prefix, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var input = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length], device: model.Device);
        if (prefix is not { Tokens.shape: [1, > 0, _] })
        {
            return model.Hidden(input, cache: cache).MoveToOuterDisposeScope();
        }

        var at = Math.Min(prefix.At, prompt.Length);
        var embedded = model.Embed(input);
        var spliced = cat([embedded[.., ..at], prefix.Tokens.to_type(embedded.dtype), embedded[.., at..]], 1);
        return model.HiddenFromEmbeddings(spliced, cache: cache).MoveToOuterDisposeScope();
    }

    private sealed class Sequence(int[] prompt, GenerationOptions options, SoftPrefix? prefix, int topLogProbs, IReadOnlyCollection<int> endIds, CancellationToken cancellation, Device device, Action onEnd)
    {
        private Generator? _generator;
        private bool _ended;

        public int[] Prompt { get; } = prompt;

        public GenerationOptions Options { get; } = options;

        public SoftPrefix? Prefix { get; private set; } = prefix;

        public int TopLogProbs { get; } = topLogProbs;

        public IReadOnlyCollection<int> EndIds { get; } = endIds;

        public CancellationToken Cancellation { get; } = cancellation;

        public Channel<DecodedToken> Output { get; } = Channel.CreateUnbounded<DecodedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        public Generator Generator => _generator ??= new Generator((ulong)Options.Seed, device);

        /// <summary>Columns of the batch cache before this sequence's first token (left padding).</summary>
        public int Pad { get; set; }

        /// <summary>Positions this sequence has in the cache (prompt, soft tokens, generated tokens fed back).</summary>
        public long Length { get; set; }

        public int Generated { get; set; }

        public long Next { get; set; }

        public void DisposePrefix()
        {
            Prefix?.Tokens.Dispose();
            Prefix = null;
        }

        public void Complete()
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            Output.Writer.TryComplete();
            Release();
        }

        public void Fail(Exception ex)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            Output.Writer.TryComplete(ex);
            Release();
        }

        private void Release()
        {
            DisposePrefix();
            _generator?.Dispose();
            _generator = null;
            onEnd();
        }
    }
}
