using System.Diagnostics;
using System.Text;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Tokenizers;

public class PerformanceTests
{
    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
        "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
        "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
        "who", "so", "no", "preference", "optimization", "recommendation", "quick", "brown", "fox", "jumps",
        "lazy", "dog", "Question", "Answer", "model", "language", "alignment", "reward", "policy", "gradient",
        "12", "30", "42", "1999", "3.14", "don't", "it's", "we're", "(see", "below)", "e.g.", "U.S.", "naïve", "café",
    ];

    private static string EnglishLikeText(int bytes, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder(bytes + 100);
        while (text.Length < bytes)
        {
            var sentence = random.Next(5, 20);
            for (var i = 0; i < sentence; i++)
            {
                var word = Words[random.Next(Words.Length)];
                text.Append(i == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word);
                text.Append(i == sentence - 1 ? ". " : random.Next(12) == 0 ? ", " : " ");
            }

            if (random.Next(8) == 0)
            {
                text.Append('\n');
            }
        }

        return text.ToString();
    }

    [Fact]
    public void Encodes_a_megabyte_of_english_in_well_under_a_second()
    {
        var tokenizer = BpeTokenizer.Load(TestFiles.FixturePath("hf-tiny", "tokenizer.json"));
        tokenizer.Encode(EnglishLikeText(20_000, 1)); // warm up the regex and JIT
        var text = EnglishLikeText(1_000_000, 2);
        var watch = Stopwatch.StartNew();
        var ids = tokenizer.Encode(text);
        watch.Stop();
        Assert.Equal(text, tokenizer.Decode(ids));
        // Typically ~0.2 s on two shared cores; the bound leaves room for a busy machine.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"encoding 1 MB took {watch.Elapsed.TotalSeconds:F2} s");
    }
}
