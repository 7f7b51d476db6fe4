using System.Text;

namespace Attune.Torch.Tokenizers;

/// <summary>Unicode normalization forms.</summary>
internal static class UnicodeNormalization
{
    public static string Normalize(string text, NormalizationForm form)
    {
        if (text.Length == 0 || System.Text.Ascii.IsValid(text))
        {
            return text;
        }

        return text.Normalize(form);
    }
}
