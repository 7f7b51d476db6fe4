using System.Text;
using Attune.Torch.Tokenizers;
using BenchmarkDotNet.Attributes;

namespace Attune.Benchmarks;

/// <summary>
/// Byte-level BPE encoding speed: about 1 MB of real English (this repository's own docs and
/// README, repeated) through the fixture tokenizer (vocab 512, GPT-2 pre-tokenizer pattern).
/// <c>dotnet run -c Release --project bench/Attune.Benchmarks -- --filter '*Tokenizer*'</c>
/// </summary>
[SimpleJob(warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private BpeTokenizer _tokenizer = null!;
    private string _text = "";

    [GlobalSetup]
    public void Setup()
    {
        var root = RepoRoot();
        _tokenizer = BpeTokenizer.Load(Path.Combine(root, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny", "tokenizer.json"));
        var docs = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md"))
            .Order(StringComparer.Ordinal).Select(File.ReadAllText);
        var corpus = string.Join("\n", docs);
        var text = new StringBuilder();
        while (text.Length < 1_000_000)
        {
            text.Append(corpus);
        }

        _text = text.ToString(0, 1_000_000);
    }

    [Benchmark(Description = "encode 1 MB")]
    public int Encode() => _tokenizer.Encode(_text).Length;

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("run the benchmarks from inside the repository");
    }
}
