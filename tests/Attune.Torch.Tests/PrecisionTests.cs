using Attune.Core.Errors;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using Attune.Torch.Safetensors;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

/// <summary>
/// bf16 and bf16-pure against fp32 on the reference fixtures, the conversions between them, and
/// bfloat16 / float16 checkpoint files in every precision. The bounds are stated in units of
/// bfloat16's unit roundoff u = 2^-8 and were fixed before measuring (docs/torch.md, "Precision").
/// </summary>
public class PrecisionTests
{
    /// <summary>bfloat16's unit roundoff: 8 significant bits, round to nearest.</summary>
    private const double U = 1.0 / 256;

    public static TheoryData<string, Precision> Cases => new()
    {
        { "llama", Precision.Bf16 }, { "qwen2", Precision.Bf16 }, { "qwen3", Precision.Bf16 },
        { "llama", Precision.Bf16Pure }, { "qwen2", Precision.Bf16Pure }, { "qwen3", Precision.Bf16Pure },
    };

    /// <summary>
    /// (relative RMS error, largest error relative to the largest |logit|). A logit is the end of a chain of
    /// a few bfloat16 roundings per layer whose relative errors add roughly in quadrature; 4u allows sixteen
    /// such roundings at full weight. bf16-pure also rounds the weights and the residual stream: twice that.
    /// </summary>
    private static (double Rms, double Max) Bound(Precision precision) => precision == Precision.Bf16 ? (4 * U, 8 * U) : (8 * U, 16 * U);

    private static (double Rms, double Max) Errors(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var d = actual - expected;
        return ((d.norm() / expected.norm()).item<float>(), (d.abs().max() / expected.abs().max()).item<float>());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_are_within_the_documented_bound_of_the_fp32_reference(string arch, Precision precision)
    {
        using var model = CausalLM.Load(Fixtures.Model(arch), precision: precision);
        using var fp32 = CausalLM.Load(Fixtures.Model(arch));
        model.eval();
        fp32.eval();
        Assert.Equal(precision, model.Precision);
        var (rmsBound, maxBound) = Bound(precision);
        foreach (var item in Fixtures.Expected(arch).GetProperty("logits").EnumerateArray())
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var ids = tensor(Fixtures.Longs(item.GetProperty("ids"))).unsqueeze(0);
            var logits = model.Forward(ids)[0];
            Assert.Equal(ScalarType.Float32, logits.dtype);
            var first = tensor(Fixtures.Floats(item.GetProperty("first_row")));
            var last = tensor(Fixtures.Floats(item.GetProperty("last_row")));
            // The reference's first and last rows, and every row against Attune's fp32 logits (which match the reference within 1e-4).
            foreach (var (expected, actual) in new[] { (first, logits[0]), (last, logits[-1]), (fp32.Forward(ids)[0], logits) })
            {
                var (rms, max) = Errors(expected, actual);
                Assert.True(rms <= rmsBound, $"{arch} {precision}: relative RMS error {rms / U:F2}u > {rmsBound / U}u");
                Assert.True(max <= maxBound, $"{arch} {precision}: largest error {max / U:F2}u of the largest logit > {maxBound / U}u");
                Assert.True(rms > U / 10, $"{arch} {precision}: relative error {rms:E2} is too small for bfloat16 products: did it run in float32?");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Response_log_probs_of_the_fixture_pairs_are_within_2_pow_minus_8_relative(string arch, Precision precision)
    {
        using var model = CausalLM.Load(Fixtures.Model(arch), precision: precision);
        model.eval();
        var tok = AutoTokenizer.Load(Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json"));
        foreach (var pair in Fixtures.Expected(arch).GetProperty("dpo").EnumerateArray())
        {
            using var noGrad = no_grad();
            var prompt = tok.Encode(pair.GetProperty("prompt").GetString()!);
            using var logps = LogProbs.Response(model, [new SequencePair(prompt, tok.Encode(pair.GetProperty("chosen").GetString()!)), new SequencePair(prompt, tok.Encode(pair.GetProperty("rejected").GetString()!))]);
            Assert.Equal(ScalarType.Float32, logps.Sum.dtype);
            var sums = logps.Sum.data<float>().ToArray();
            foreach (var (name, actual) in new[] { ("policy_chosen_logp", sums[0]), ("policy_rejected_logp", sums[1]) })
            {
                var expected = pair.GetProperty(name).GetDouble();
                Assert.True(Math.Abs(actual - expected) <= (U * Math.Abs(expected)) + 1e-4, $"{arch} {precision} {name}: {actual} against {expected}");
            }
        }
    }

    [Fact]
    public void Bf16_pure_stores_bfloat16_keeps_adapters_float32_and_a_tied_head_tied()
    {
        using var model = CausalLM.Load(Fixtures.Model("qwen3"));                 // qwen3 tiny ties the head
        Assert.True(model.Config.TieWordEmbeddings);
        var original = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        LoraAdapter.Attach(model, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["q_proj"] }, seed: 1);
        var adapter = model.named_parameters().First(p => CausalLM.IsAdapterParameter(p.name));
        var adapterBefore = adapter.parameter.detach().clone();

        // fp32 -> bf16 shares the float32 weights: nothing is converted.
        model.SetPrecision(Precision.Bf16);
        Assert.All(model.named_parameters(), p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
        Assert.All(model.Projections(), p => Assert.Equal(ScalarType.BFloat16, p.Projection.ComputeType));

        model.SetPrecision(Precision.Bf16Pure);
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(CausalLM.IsAdapterParameter(name) ? ScalarType.Float32 : ScalarType.BFloat16, p.dtype);
        }

        Assert.True(model.named_parameters().First(p => p.name == adapter.name).parameter.bytes.SequenceEqual(adapterBefore.bytes));
        Assert.Equal(original.Count, model.StateDict().Count);

        // Back to fp32: every weight is its bfloat16 rounding, exactly.
        model.SetPrecision(Precision.Fp32);
        foreach (var (name, p) in model.StateDict())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.True(p.bytes.SequenceEqual(original[name].to_type(ScalarType.BFloat16).to_type(ScalarType.Float32).bytes), name);
        }

        // The head is still the embedding: zero the embedding and every logit is zero.
        model.SetPrecision(Precision.Bf16Pure);
        using (no_grad())
        {
            model.UniqueNamedParameters().Single(p => p.Name == "model.embed_tokens.weight").Parameter.zero_();
            using var hidden = ones(1, 3, model.Config.HiddenSize, dtype: ScalarType.BFloat16);
            using var logits = model.Head(hidden);
            Assert.Equal(0f, logits.abs().max().item<float>());
        }
    }

    [Theory]
    [InlineData("llama", SafetensorsDType.BF16)]
    [InlineData("qwen3", SafetensorsDType.BF16)]
    [InlineData("qwen2", SafetensorsDType.F16)]
    public void A_half_precision_file_loads_in_every_mode_and_bf16_pure_generates_as_from_the_fp32_file(string arch, SafetensorsDType dtype)
    {
        using var dir = new TempDir();
        using (var fp32 = CausalLM.Load(Fixtures.Model(arch)))
        {
            fp32.Save(dir.Path, dtype);
        }

        Assert.All(SafetensorsHeader.Read(Path.Combine(dir.Path, "model.safetensors")).Tensors.Values, t => Assert.Equal(dtype, t.DType));
        using var reference = CausalLM.Load(Fixtures.Model(arch));
        reference.eval();
        var ids = Fixtures.Longs(Fixtures.Expected(arch).GetProperty("logits")[1].GetProperty("ids"));
        using var input = tensor(ids).unsqueeze(0);
        foreach (var precision in Enum.GetValues<Precision>())
        {
            using var model = CausalLM.Load(dir.Path, precision: precision);
            model.eval();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var (rms, max) = Errors(reference.Forward(input), model.Forward(input));
            // The file's rounding of the weights comes on top of the precision's own (16u for the weights alone in fp32).
            var (rmsBound, maxBound) = precision == Precision.Fp32 ? (4 * U, 8 * U) : Bound(Precision.Bf16Pure);
            Assert.True(rms <= rmsBound && max <= maxBound, $"{arch} from {dtype} in {precision}: relative RMS {rms / U:F2}u, largest {max / U:F2}u");
        }

        if (dtype != SafetensorsDType.BF16)
        {
            return;
        }

        // bf16-pure from the bfloat16 file holds exactly what it holds when it rounds the float32 file itself,
        // and both generate the same 12 tokens.
        using var fromFile = CausalLM.Load(dir.Path, precision: Precision.Bf16Pure);
        using var rounded = CausalLM.Load(Fixtures.Model(arch), precision: Precision.Bf16Pure);
        foreach (var (name, p) in rounded.StateDict())
        {
            Assert.True(p.bytes.SequenceEqual(fromFile.StateDict()[name].bytes), name);
        }

        var greedy = Fixtures.Expected(arch).GetProperty("greedy")[0];
        var prompt = Fixtures.Longs(greedy.GetProperty("prompt_ids")).Select(i => (int)i).ToArray();
        var options = new GenerationOptions { Greedy = true, MaxNewTokens = 12 };
        fromFile.eval();
        rounded.eval();
        var a = Generation.Generate(fromFile, [prompt], options)[0];
        var b = Generation.Generate(rounded, [prompt], options)[0];
        Assert.Equal(12, a.NewIds.Length);
        Assert.Equal(b.NewIds, a.NewIds);
    }

    [Fact]
    public void Precision_and_save_type_names_parse_and_bad_ones_name_the_option()
    {
        Assert.Equal([Precision.Fp32, Precision.Bf16, Precision.Bf16Pure], Precisions.Names.Select(n => Precisions.Parse(n)));
        Assert.Equal("bf16-pure", Precision.Bf16Pure.Name());
        Assert.Equal(SafetensorsDType.F16, Precisions.ParseSaveType("fp16"));
        Assert.Equal(SafetensorsDType.BF16, Precisions.ParseSaveType(null, SafetensorsDType.BF16));
        Assert.StartsWith("--precision: 'fp8'", Assert.Throws<AttuneInputException>(() => Precisions.Parse("fp8")).Message, StringComparison.Ordinal);
        Assert.StartsWith("--save-dtype: 'int8'", Assert.Throws<AttuneInputException>(() => Precisions.ParseSaveType("int8")).Message, StringComparison.Ordinal);
    }
}
