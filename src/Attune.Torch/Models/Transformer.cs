using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Attune.Torch.Models;

// The decoder-only transformer shared by Llama, Qwen2 and Qwen3, read top to bottom:
// RMSNorm, rotary embeddings, attention, MLP, block, model. The three families differ only in
// switches of ModelConfig: Qwen2 puts biases on q/k/v, Qwen3 normalises each head of q and k.
// Parameter names are Hugging Face's, so a state dict maps one to one onto model.safetensors.
// Shapes: B batch, T new tokens, S all tokens seen (past + new), H heads, K key/value heads,
// D head dim, E hidden size, V vocabulary.

/// <summary>Root-mean-square layer norm, computed in float32 as the reference does.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private Parameter weight;   // not readonly: replaced when the stored type changes
    private readonly double _eps;

    public RmsNorm(long size, double eps) : base("RMSNorm")
    {
        weight = new Parameter(ones(size));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Float32 as in Hugging Face's norm (half-precision inputs are upcast); float64 stays float64,
        // so that a model held in float64 (gradient checks) is float64 throughout.
        var input = x.dtype == ScalarType.Float64 ? x : x.to_type(ScalarType.Float32);
        var variance = input.pow(2).mean([-1], keepdim: true);
        var normed = input * rsqrt(variance + _eps);
        return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Stores the weight as <paramref name="dtype"/>.</summary>
    internal void ConvertWeight(ScalarType dtype)
    {
        if (weight.dtype != dtype)
        {
            var old = weight;
            weight = Projection.Converted(old, dtype);
            ConditionallyRegisterParameter(nameof(weight), weight);
            old.Dispose();
        }
    }
}

/// <summary>Rotary position embeddings: the cos and sin tables for given positions.</summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _inverseFrequencies;

    public RotaryEmbedding(int headDim, RopeSettings rope)
    {
        _inverseFrequencies = InverseFrequencies(headDim, rope);
    }

    /// <summary>cos and sin of shape [B, 1, T, D] for positions [B, T].</summary>
    public (Tensor Cos, Tensor Sin) Tables(Tensor positions, Device device, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var inv = tensor(_inverseFrequencies, device: device);                       // [D/2]
        var freqs = positions.to_type(ScalarType.Float32).unsqueeze(-1) * inv;        // [B, T, D/2]
        var emb = cat([freqs, freqs], dim: -1).unsqueeze(1);                         // [B, 1, T, D]
        return (emb.cos().to_type(dtype).MoveToOuterDisposeScope(), emb.sin().to_type(dtype).MoveToOuterDisposeScope());
    }

    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var half = x.shape[^1] / 2;
        var x1 = x[TensorIndex.Ellipsis, TensorIndex.Slice(0, half)];
        var x2 = x[TensorIndex.Ellipsis, TensorIndex.Slice(half, null)];
        var rotated = cat([-x2, x1], dim: -1);
        return ((x * cos) + (rotated * sin)).MoveToOuterDisposeScope();
    }

    /// <summary>1 / theta^(2i/D), adjusted for the scaling types (linear, llama3).</summary>
    public static float[] InverseFrequencies(int headDim, RopeSettings rope)
    {
        var result = new float[headDim / 2];
        for (var i = 0; i < result.Length; i++)
        {
            // As the reference: the exponent and the power in float32.
            var exponent = (float)(2 * i) / headDim;
            var inv = 1.0f / MathF.Pow((float)rope.Theta, exponent);
            result[i] = rope.Type switch
            {
                "linear" => (float)(inv / rope.Factor),
                "llama3" => Llama3(inv, rope),
                _ => inv,
            };
        }

        return result;
    }

    private static float Llama3(float inv, RopeSettings rope)
    {
        var lowWavelength = rope.OriginalMaxPositions / rope.LowFrequencyFactor;
        var highWavelength = rope.OriginalMaxPositions / rope.HighFrequencyFactor;
        var wavelength = 2 * Math.PI / inv;
        if (wavelength < highWavelength)
        {
            return inv;                                   // high frequencies: unchanged
        }

        if (wavelength > lowWavelength)
        {
            return (float)(inv / rope.Factor);            // low frequencies: scaled
        }

        var smooth = ((rope.OriginalMaxPositions / wavelength) - rope.LowFrequencyFactor) / (rope.HighFrequencyFactor - rope.LowFrequencyFactor);
        return (float)(((1 - smooth) * inv / rope.Factor) + (smooth * inv));
    }
}

/// <summary>Keys and values of every layer for the tokens seen so far.</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Tokens cached so far.</summary>
    public long Length => _keys[0]?.shape[2] ?? 0;

    /// <summary>Appends this step's keys and values [B, K, T, D]; returns all of them [B, K, S, D].</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        var k = _keys[layer] is null ? keys.detach() : cat([_keys[layer]!, keys.detach()], dim: 2);
        var v = _values[layer] is null ? values.detach() : cat([_values[layer]!, values.detach()], dim: 2);
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = k.DetachFromDisposeScope();
        _values[layer] = v.DetachFromDisposeScope();
        return (k, v);
    }

    /// <summary>Prepends <paramref name="columns"/> zero positions to every layer (left padding, masked out by the caller).</summary>
    public void PadLeft(long columns)
    {
        if (columns <= 0)
        {
            return;
        }

        Replace(t =>
        {
            var shape = t.shape.ToArray();
            shape[2] = columns;
            using var zeros = torch.zeros(shape, t.dtype, t.device);
            return cat([zeros, t], dim: 2);
        });
    }

    /// <summary>Drops the first <paramref name="columns"/> positions of every layer.</summary>
    public void TrimLeft(long columns)
    {
        if (columns > 0)
        {
            Replace(t => t.narrow(2, columns, t.shape[2] - columns).contiguous());
        }
    }

    /// <summary>Appends the rows of <paramref name="other"/> (of the same length) below these; <paramref name="other"/> is left as it was.</summary>
    public void AppendRows(KvCache other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._keys.Length != _keys.Length || (_keys[0] is not null && other.Length != Length))
        {
            throw new ArgumentException("caches of different layer counts or lengths");
        }

        for (var i = 0; i < _keys.Length; i++)
        {
            var k = _keys[i] is null ? other._keys[i]!.clone() : cat([_keys[i]!, other._keys[i]!], dim: 0);
            var v = _values[i] is null ? other._values[i]!.clone() : cat([_values[i]!, other._values[i]!], dim: 0);
            _keys[i]?.Dispose();
            _values[i]?.Dispose();
            _keys[i] = k.DetachFromDisposeScope();
            _values[i] = v.DetachFromDisposeScope();
        }
    }

    private void Replace(Func<Tensor, Tensor> change)
    {
        for (var i = 0; i < _keys.Length; i++)
        {
            if (_keys[i] is null)
            {
                continue;
            }

            var k = change(_keys[i]!).DetachFromDisposeScope();
            var v = change(_values[i]!).DetachFromDisposeScope();
            _keys[i]!.Dispose();
            _values[i]!.Dispose();
            _keys[i] = k;
            _values[i] = v;
        }
    }

    /// <summary>Keeps only the rows of <paramref name="batchRows"/> (e.g. finished sequences dropped).</summary>
    public void Select(Tensor batchRows)
    {
        for (var i = 0; i < _keys.Length; i++)
        {
            if (_keys[i] is null)
            {
                continue;
            }

            var k = _keys[i]!.index_select(0, batchRows).DetachFromDisposeScope();
            var v = _values[i]!.index_select(0, batchRows).DetachFromDisposeScope();
            _keys[i]!.Dispose();
            _values[i]!.Dispose();
            _keys[i] = k;
            _values[i] = v;
        }
    }

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values))
        {
            t?.Dispose();
        }

        Array.Clear(_keys);
        Array.Clear(_values);
    }
}

/// <summary>Grouped-query self-attention with rotary embeddings.</summary>
public sealed class Attention : nn.Module
{
    private readonly Projection q_proj, k_proj, v_proj, o_proj;
    private readonly RmsNorm? q_norm, k_norm;
    private readonly int _heads, _kvHeads, _headDim;

    public Attention(ModelConfig c) : base("Attention")
    {
        _heads = c.NumHeads;
        _kvHeads = c.NumKeyValueHeads;
        _headDim = c.HeadDim;
        q_proj = new Projection(c.HiddenSize, c.NumHeads * c.HeadDim, c.QkvBias);
        k_proj = new Projection(c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.QkvBias);
        v_proj = new Projection(c.HiddenSize, c.NumKeyValueHeads * c.HeadDim, c.QkvBias);
        o_proj = new Projection(c.NumHeads * c.HeadDim, c.HiddenSize, c.OutputBias);
        if (c.QkNorm)
        {
            q_norm = new RmsNorm(c.HeadDim, c.RmsNormEps);
            k_norm = new RmsNorm(c.HeadDim, c.RmsNormEps);
        }

        RegisterComponents();
    }

    /// <summary>
    /// The type attention runs in (null: the activations' own). Under bfloat16 precisions the
    /// rotation is applied in float32 (the tables are float32) and q, k, v are then cast, so the
    /// KV cache holds bfloat16 too.
    /// </summary>
    public ScalarType? ComputeType { get; set; }

    /// <param name="x">[B, T, E]</param>
    /// <param name="mask">[B, 1, T, S] booleans (true: may attend), or null for plain causal attention without a past.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim);                     // [B, T, H, D]
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim);                   // [B, T, K, D]
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);   // [B, K, T, D]
        if (q_norm is not null)
        {
            q = q_norm.forward(q);
            k = k_norm!.forward(k);
        }

        q = RotaryEmbedding.Apply(q.transpose(1, 2), cos, sin);                      // [B, H, T, D]
        k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);                      // [B, K, T, D]
        if (ComputeType is { } type && q.dtype != type)
        {
            (q, k, v) = (q.to_type(type), k.to_type(type), v.to_type(type));
        }

        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);                                       // [B, K, S, D]
        }

        if (_kvHeads != _heads)
        {
            // SDPA here has no grouped-query option: repeat each key/value head for its query heads.
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }

        var y = mask is null
            ? F.scaled_dot_product_attention(q, k, v, is_casual: t > 1)
            : F.scaled_dot_product_attention(q, k, v, attn_mask: mask);              // [B, H, T, D]
        y = y.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return o_proj.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary>The gated MLP: down(silu(gate(x)) * up(x)).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Projection gate_proj, up_proj, down_proj;

    public Mlp(ModelConfig c) : base("MLP")
    {
        gate_proj = new Projection(c.HiddenSize, c.IntermediateSize, c.MlpBias);
        up_proj = new Projection(c.HiddenSize, c.IntermediateSize, c.MlpBias);
        down_proj = new Projection(c.IntermediateSize, c.HiddenSize, c.MlpBias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(F.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>One pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
public sealed class DecoderLayer : nn.Module
{
    private readonly RmsNorm input_layernorm, post_attention_layernorm;
    private readonly Attention self_attn;
    private readonly Mlp mlp;

    public DecoderLayer(ModelConfig c) : base("DecoderLayer")
    {
        self_attn = new Attention(c);
        mlp = new Mlp(c);
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.Forward(input_layernorm.forward(x), cos, sin, mask, cache, layer);
        return (h + mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>The stack without the output head: embeddings, blocks, final norm.</summary>
public sealed class DecoderStack : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;

    public DecoderStack(ModelConfig c) : base("Model")
    {
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize);
        using (no_grad())
        {
            nn.init.normal_(embed_tokens.weight!, 0, 0.02);
        }

        layers = new ModuleList<DecoderLayer>([.. Enumerable.Range(0, c.NumLayers).Select(_ => new DecoderLayer(c))]);
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    public Embedding Embeddings => embed_tokens;

    /// <summary>Stores the embedding matrix as <paramref name="dtype"/>; returns the (new) parameter.</summary>
    internal Parameter ConvertEmbeddings(ScalarType dtype)
    {
        var old = embed_tokens.weight!;
        if (old.dtype != dtype)
        {
            embed_tokens.weight = Projection.Converted(old, dtype);
            old.Dispose();
        }

        return embed_tokens.weight!;
    }

    public Tensor Forward(Tensor ids, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        return ForwardEmbedded(embed_tokens.forward(ids), cos, sin, mask, cache).MoveToOuterDisposeScope();
    }

    /// <summary>The stack over input embeddings [B, T, E] (token embeddings, possibly with soft tokens spliced in).</summary>
    public Tensor ForwardEmbedded(Tensor x, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        for (var i = 0; i < layers.Count; i++)
        {
            x = layers[i].Forward(x, cos, sin, mask, cache, i);
        }

        return norm.forward(x).MoveToOuterDisposeScope();
    }
}
