using System.Text;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>
/// Attune's own Unicode normalization (the runtime's does nothing under invariant globalization).
/// Expected values are the standard examples of UAX #15, checked against Python's
/// unicodedata.normalize.
/// </summary>
public class UnicodeNormalizationTests
{
    [Theory]
    [InlineData("C", "a\u0301\u0323", "\u1ea1\u0301")]     // reorder (dot below 220 before acute 230), compose a+dot below only
    [InlineData("D", "\u1e69", "s\u0323\u0307")]           // ṩ decomposes fully and in canonical order
    [InlineData("KC", "\ufb01\u00b2\u2460", "fi21")]       // ligature, superscript, circled digit
    [InlineData("KD", "\u1e9b\u0323", "s\u0323\u0307")]    // long s with dot above → s (compatibility)
    [InlineData("C", "\u1100\u1161\u11a8", "\uac01")]      // Hangul jamo L V T compose to 각
    [InlineData("D", "\ud55c", "\u1112\u1161\u11ab")]      // 한 decomposes to its jamo
    [InlineData("C", "A\u030a\u0301", "\u01fa")]           // Å then acute → Ǻ
    [InlineData("C", "\u212b", "\u00c5")]                  // Angstrom sign is a singleton → Å
    [InlineData("C", "\u0344", "\u0308\u0301")]            // excluded from recomposition
    [InlineData("C", "\U0001D15E", "\U0001D157\U0001D165")] // a musical symbol outside the BMP, excluded
    [InlineData("C", "plain ASCII", "plain ASCII")]
    public void Matches_the_standard_examples(string form, string input, string expected)
    {
        var f = form switch
        {
            "C" => NormalizationForm.FormC,
            "D" => NormalizationForm.FormD,
            "KC" => NormalizationForm.FormKC,
            _ => NormalizationForm.FormKD,
        };
        Assert.Equal(expected, UnicodeNormalization.Normalize(input, f));
    }

    [Fact]
    public void Forms_agree_with_each_other_on_random_text()
    {
        var random = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            var s = RandomText.Next(random, 30);
            var nfc = UnicodeNormalization.Normalize(s, NormalizationForm.FormC);
            var nfd = UnicodeNormalization.Normalize(s, NormalizationForm.FormD);
            Assert.Equal(nfc, UnicodeNormalization.Normalize(nfd, NormalizationForm.FormC));
            Assert.Equal(nfd, UnicodeNormalization.Normalize(nfc, NormalizationForm.FormD));
            Assert.Equal(nfc, UnicodeNormalization.Normalize(nfc, NormalizationForm.FormC));
        }
    }
}
