using System.Text;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>A megabyte of text through the tokenizer (its speed is measured in bench/: TokenizerBenchmarks).</summary>
public class LargeTextTests
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
    public void A_megabyte_of_english_round_trips()
    {
        var tokenizer = BpeTokenizer.Load(TestFiles.FixturePath("hf-tiny", "tokenizer.json"));
        var text = EnglishLikeText(1_000_000, 2);
        var ids = tokenizer.Encode(text);
        Assert.InRange(ids.Length, text.Length / 8, text.Length);
        Assert.Equal(text, tokenizer.Decode(ids));
    }
}
