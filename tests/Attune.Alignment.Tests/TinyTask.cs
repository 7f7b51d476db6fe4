using Attune.Alignment.Training;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;

namespace Attune.Alignment.Tests;

/// <summary>
/// A tiny preference task: prompts of neutral characters; the chosen response is drawn from the
/// "positive" characters, the rejected one from the "negative" characters (same length). Held-out
/// pairs are fresh draws, so a policy only ranks them right by learning the preference.
/// </summary>
internal static class TinyTask
{
    public const string Positive = "abcd";
    public const string Negative = "wxyz";
    public const string Neutral = "mnopqrst";

    public static readonly CharTokenizer Tokenizer = CharTokenizer.FromAlphabet(Positive + Negative + Neutral + ":");

    static TinyTask() => TorchSharp.torch.set_num_threads(1);

    public static CausalLM Model(int seed = 5) => ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), seed);

    public static List<PreferenceTokens> Pairs(int count, int seed, int length = 4)
    {
        var rng = new Random(seed);
        string Draw(string alphabet, int n) => new([.. Enumerable.Range(0, n).Select(_ => alphabet[rng.Next(alphabet.Length)])]);
        return [.. Enumerable.Range(0, count).Select(_ => new PreferenceTokens(
            Tokenizer.Encode(Draw(Neutral, 3) + ":"), Tokenizer.Encode(Draw(Positive, length)), Tokenizer.Encode(Draw(Negative, length))))];
    }
}
