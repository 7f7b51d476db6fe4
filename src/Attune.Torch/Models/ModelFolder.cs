using Attune.Core.Errors;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Models;

/// <summary>A checkpoint folder opened with its tokenizer.</summary>
public static class ModelFolder
{
    /// <summary>The tokenizer at <paramref name="tokenizerPath"/>, else <c>tokenizer.json</c> in the model folder.</summary>
    public static ITokenizer LoadTokenizer(string? modelDirectory, string? tokenizerPath)
    {
        var path = tokenizerPath ?? (modelDirectory is null ? null : Path.Combine(modelDirectory, "tokenizer.json"));
        if (path is null)
        {
            throw new AttuneInputException("no tokenizer: give one with --tokenizer FILE (or ?tokenizer=FILE in an hf: spec)");
        }

        if (!File.Exists(path))
        {
            throw new AttuneInputException(tokenizerPath is null ? "the model folder has no tokenizer.json; give one with --tokenizer FILE (or ?tokenizer=FILE in an hf: spec)" : "file not found", path);
        }

        return AutoTokenizer.Load(path);
    }

    /// <summary>Opens a model folder for inference on <paramref name="device"/> in <paramref name="precision"/>, with its tokenizer.</summary>
    public static (CausalLM Model, ITokenizer Tokenizer) Open(string directory, string? tokenizerPath, Device? device = null, Precision precision = Precision.Fp32)
    {
        if (!Directory.Exists(directory))
        {
            throw new AttuneInputException("model folder not found", directory);
        }

        var tokenizer = LoadTokenizer(directory, tokenizerPath);
        var model = CausalLM.Load(directory, device, precision);
        if (tokenizer.VocabSize > model.Config.VocabSize)
        {
            model.Dispose();
            throw new AttuneInputException($"the tokenizer has {tokenizer.VocabSize} tokens but the model only {model.Config.VocabSize}", tokenizerPath ?? Path.Combine(directory, "tokenizer.json"));
        }

        model.eval();
        return (model, tokenizer);
    }

    /// <summary>Creates a model with fresh weights (normal(0, 0.02), as Hugging Face initialises), seeded.</summary>
    public static CausalLM Initialize(ModelConfig config, int seed, Device? device = null)
    {
        torch.manual_seed(seed);
        return new CausalLM(config, device);
    }

    /// <summary>The device named on the command line: cpu, cuda or cuda:N.</summary>
    public static Device ParseDevice(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name == "cpu")
        {
            return CPU;
        }

        if (name.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
            {
                throw new AttuneInputException($"device '{name}' asked for, but CUDA is not available in this build (TorchSharp-cpu)");
            }

            return torch.device(name);
        }

        throw new AttuneInputException($"unknown device '{name}' (cpu, cuda, cuda:N)");
    }
}
