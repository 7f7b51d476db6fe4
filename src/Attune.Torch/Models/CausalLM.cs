using Attune.Core.Errors;
using Attune.Torch.Safetensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Torch.Models;

/// <summary>
/// A causal language model of the Llama / Qwen2 / Qwen3 families: ids in, logits out. Loads and
/// saves the Hugging Face layout (<c>config.json</c> + <c>model.safetensors</c>).
/// </summary>
public sealed class CausalLM : nn.Module
{
    private readonly DecoderStack model;
    private readonly Projection lm_head;
    private readonly RotaryEmbedding _rope;

    public CausalLM(ModelConfig config, Device? device = null) : base(config.ArchitectureName)
    {
        Config = config;
        model = new DecoderStack(config);
        lm_head = config.TieWordEmbeddings
            ? new Projection(model.Embeddings.weight!)
            : new Projection(config.HiddenSize, config.VocabSize, hasBias: false);
        _rope = new RotaryEmbedding(config.HeadDim, config.Rope);
        RegisterComponents();
        if (device is not null && device.type != DeviceType.CPU)
        {
            this.to(device);
        }
    }

    public ModelConfig Config { get; }

    public Device Device => lm_head.Weight.device;

    /// <summary>How the model stores its weights and computes (<see cref="SetPrecision"/>); float32 unless set.</summary>
    public Precision Precision { get; private set; } = Precision.Fp32;

    /// <summary>
    /// Switches the model to <paramref name="precision"/>. Going to or from <see cref="Precision.Bf16Pure"/>
    /// converts the stored base weights (embeddings, projections, norms; a tied head stays tied), each
    /// into a new parameter object: collect parameters for an optimizer after this call. LoRA adapters
    /// keep their float32 weights in every precision. <see cref="Precision.Fp32"/> and
    /// <see cref="Precision.Bf16"/> share float32 weights, so switching between them converts nothing.
    /// </summary>
    public void SetPrecision(Precision precision)
    {
        var storage = precision.StorageType();
        if (lm_head.Weight.dtype != storage)
        {
            using var noGrad = no_grad();
            foreach (var (_, module) in named_modules())
            {
                switch (module)
                {
                    case Projection p when !(Config.TieWordEmbeddings && ReferenceEquals(p, lm_head)):
                        p.ConvertBase(storage);
                        break;
                    case RmsNorm n:
                        n.ConvertWeight(storage);
                        break;
                }
            }

            var embeddings = model.ConvertEmbeddings(storage);
            if (Config.TieWordEmbeddings)
            {
                lm_head.UseWeight(embeddings);
            }
        }

        SetComputeType(this, precision.ComputeType());
        Precision = precision;
    }

    /// <summary>
    /// Sets the type matrix products and attention compute in (null: the weights' own) on every projection
    /// and attention block of <paramref name="module"/> — a whole model, or one layer on its own.
    /// </summary>
    public static void SetComputeType(nn.Module module, ScalarType? compute)
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case Projection p:
                    p.ComputeType = compute;
                    break;
                case Attention a:
                    a.ComputeType = compute;
                    break;
            }
        }
    }

    /// <summary>Parameters counted once (a tied head is not counted twice).</summary>
    public long ParameterCount => StateDict().Values.Sum(t => t.numel());

    /// <summary>
    /// Logits [B, T, V] for token ids [B, T].
    /// </summary>
    /// <param name="ids">[B, T] int64 token ids.</param>
    /// <param name="attentionMask">[B, S] with 1 for real tokens and 0 for padding (S = cached + T), or null when nothing is padded.</param>
    /// <param name="positions">[B, T] positions, or null for cached + 0..T-1 (with a mask: the count of real tokens before each one).</param>
    /// <param name="cache">keys and values of earlier tokens; this call's are appended.</param>
    public Tensor Forward(Tensor ids, Tensor? attentionMask = null, Tensor? positions = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        return Head(Hidden(ids, attentionMask, positions, cache)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The output head: float32 logits [..., V] for final hidden states [..., E], in every precision
    /// (under bfloat16 the product runs in bfloat16 and is cast up, so softmax and log-softmax run in float32);
    /// a model held in float64 (gradient checks) keeps float64 logits.
    /// </summary>
    public Tensor Head(Tensor hidden)
    {
        var logits = lm_head.forward(hidden);
        if (logits.dtype is ScalarType.Float32 or ScalarType.Float64)
        {
            return logits;
        }

        using (logits)
        {
            return logits.to_type(ScalarType.Float32);
        }
    }

    /// <summary>The final hidden states [B, T, E] (before the output head).</summary>
    public Tensor Hidden(Tensor ids, Tensor? attentionMask = null, Tensor? positions = null, KvCache? cache = null) =>
        HiddenOf(ids, null, attentionMask, positions, cache);

    /// <summary>The token embeddings [B, T, E] of ids [B, T] (differentiable; no copy of the table).</summary>
    public Tensor Embed(Tensor ids) => model.Embeddings.forward(ids);

    /// <summary>
    /// The final hidden states [B, T, E] for input embeddings [B, T, E] instead of ids: token
    /// embeddings (<see cref="Embed"/>) with soft tokens spliced in, as personalised models do.
    /// </summary>
    public Tensor HiddenFromEmbeddings(Tensor embeddings, Tensor? attentionMask = null, Tensor? positions = null, KvCache? cache = null) =>
        HiddenOf(null, embeddings, attentionMask, positions, cache);

    private Tensor HiddenOf(Tensor? ids, Tensor? embeddings, Tensor? attentionMask, Tensor? positions, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var shape = (ids ?? embeddings!).shape;
        long b = shape[0], t = shape[1];
        var past = cache?.Length ?? 0;
        var device = (ids ?? embeddings!).device;
        if (positions is null)
        {
            positions = attentionMask is null
                ? arange(past, past + t, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, t)
                : (attentionMask.to_type(ScalarType.Int64).cumsum(1) - 1).clamp_min(0)[.., TensorIndex.Slice(past, past + t)];
        }

        // Float32 tables, or float64 for a model held in float64 (gradient checks).
        var ropeType = model.Embeddings.weight!.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var (cos, sin) = _rope.Tables(positions, device, ropeType);
        var mask = attentionMask is null && past == 0 ? null : BuildMask(b, t, past, attentionMask, device);
        return (ids is not null ? model.Forward(ids, cos, sin, mask, cache) : model.ForwardEmbedded(embeddings!, cos, sin, mask, cache)).MoveToOuterDisposeScope();
    }

    /// <summary>[B, 1, T, S] booleans: query i (at absolute position past + i) may see key j when j &lt;= past + i and j is not padding.</summary>
    private static Tensor BuildMask(long b, long t, long past, Tensor? attentionMask, Device device)
    {
        var s = past + t;
        var query = arange(past, s, dtype: ScalarType.Int64, device: device).unsqueeze(1);   // [T, 1]
        var key = arange(0, s, dtype: ScalarType.Int64, device: device).unsqueeze(0);       // [1, S]
        var allowed = key.le(query).unsqueeze(0).unsqueeze(0).expand(b, 1, t, s);         // [B, 1, T, S]
        if (attentionMask is not null)
        {
            allowed = allowed.logical_and(attentionMask.to_type(ScalarType.Bool).unsqueeze(1).unsqueeze(1));
            // A padding query would see nothing and give NaN: let it see itself (its output is never used).
            allowed = allowed.logical_or(key.eq(query).unsqueeze(0).unsqueeze(0));
        }

        return allowed;
    }

    /// <summary>Parameters by their Hugging Face names; a tied head is left out as save_pretrained does.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in named_parameters())
        {
            if ((Config.TieWordEmbeddings && name == "lm_head.weight") || IsAdapterParameter(name))
            {
                continue;
            }

            result[name] = p;
        }

        return result;
    }

    /// <summary>
    /// Every distinct parameter once: a tied head shares the embedding's tensor, which
    /// <c>named_parameters()</c> lists twice (as <c>model.embed_tokens.weight</c> and, through
    /// another wrapper of the same tensor, <c>lm_head.weight</c>), so the tied name is left out.
    /// Optimizers and gradient clipping must use this list, or a tied weight is stepped twice and
    /// counted twice in the norm.
    /// </summary>
    public List<(string Name, Parameter Parameter)> UniqueNamedParameters() =>
        [.. named_parameters().Where(p => !(Config.TieWordEmbeddings && p.name == "lm_head.weight")).Select(p => (p.name, p.parameter))];

    /// <summary>True for the parameters of a LoRA adapter (<c>….lora_A.weight</c>, <c>….lora_B.weight</c>).</summary>
    public static bool IsAdapterParameter(string name) =>
        name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal);

    /// <summary>Every projection by its module path (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public IEnumerable<(string Path, Projection Projection)> Projections() =>
        named_modules().Where(m => m.module is Projection).Select(m => (m.name, (Projection)m.module));

    /// <summary>Copies tensors into the parameters; every parameter must be given with its exact shape.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        var parameters = StateDict();
        var missing = parameters.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        // Buffers some exporters write; they are recomputed here.
        var unexpected = tensors.Keys.Where(k => !parameters.ContainsKey(k) && !k.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)
                                                 && !(Config.TieWordEmbeddings && k == "lm_head.weight")).ToList();
        if (missing.Count > 0)
        {
            throw new AttuneInputException($"{missing.Count} parameters missing from the checkpoint: {Preview(missing)}", source);
        }

        if (unexpected.Count > 0)
        {
            throw new AttuneInputException($"{unexpected.Count} tensors the {Config.ModelType} config does not have: {Preview(unexpected)}", source);
        }

        using var noGrad = no_grad();
        foreach (var (name, p) in parameters)
        {
            var t = tensors[name];
            if (!t.shape.SequenceEqual(p.shape))
            {
                throw new AttuneInputException($"shape [{string.Join(", ", t.shape)}] does not match the config's [{string.Join(", ", p.shape)}]", source, field: name);
            }

            p.copy_(t);
        }
    }

    /// <summary>
    /// Loads a checkpoint folder (config.json + model.safetensors or shards) in <paramref name="precision"/>:
    /// whatever the file's floating type (F32, F16, BF16, F64), the weights are converted to the
    /// precision's stored type (float32, or bfloat16 for <see cref="Precision.Bf16Pure"/>).
    /// </summary>
    public static CausalLM Load(string directory, Device? device = null, Precision precision = Precision.Fp32)
    {
        var config = ModelConfig.Load(directory);
        var model = new CausalLM(config);
        Dictionary<string, Tensor> tensors;
        try
        {
            model.SetPrecision(precision);
            tensors = Safetensors.Safetensors.LoadCheckpoint(directory, precision.StorageType());
        }
        catch
        {
            model.Dispose();
            throw;
        }

        try
        {
            model.LoadStateDict(tensors, directory);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }

        if (device is not null && device.type != DeviceType.CPU)
        {
            model.to(device);
        }

        return model;
    }

    /// <summary>Writes config.json and model.safetensors as save_pretrained does.</summary>
    public void Save(string directory, SafetensorsDType dtype = SafetensorsDType.F32, long maxShardBytes = 5_000_000_000)
    {
        Config.Save(directory);
        Safetensors.Safetensors.SaveCheckpoint(directory, StateDict(), dtype, maxShardBytes);
    }

    private static string Preview(List<string> names) => string.Join(", ", names.Take(5)) + (names.Count > 5 ? ", …" : "");
}
