using System.Text;
using System.Text.RegularExpressions;

namespace Attune.Torch.Tokenizers;

/// <summary>A text normalization step applied before pre-tokenization.</summary>
internal abstract class Normalizer
{
    public abstract string Normalize(string text);
}

internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalization.Normalize(text, form);
}

internal sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

internal sealed class ReplaceNormalizer(Regex pattern, string content) : Normalizer
{
    public override string Normalize(string text) => pattern.Replace(text, content.Replace("$", "$$", StringComparison.Ordinal));
}

internal sealed class SequenceNormalizer(IReadOnlyList<Normalizer> steps) : Normalizer
{
    public override string Normalize(string text)
    {
        foreach (var step in steps)
        {
            text = step.Normalize(text);
        }

        return text;
    }
}
