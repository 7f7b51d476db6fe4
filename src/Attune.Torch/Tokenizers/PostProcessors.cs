namespace Attune.Torch.Tokenizers;

/// <summary>Adds special tokens around an encoded sequence (Hugging Face's post-processor, single-sequence case).</summary>
internal abstract class PostProcessor
{
    public abstract int[] Process(int[] ids);
}

/// <summary>TemplateProcessing's <c>single</c> template: a list of special-token ids and the sequence.</summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<int[]?> items) : PostProcessor
{
    public override int[] Process(int[] ids)
    {
        var result = new List<int>(ids.Length + 4);
        foreach (var item in items)
        {
            result.AddRange(item ?? ids);
        }

        return [.. result];
    }
}

/// <summary>Runs its steps one after another.</summary>
internal sealed class SequencePostProcessor(IReadOnlyList<PostProcessor> steps) : PostProcessor
{
    public override int[] Process(int[] ids)
    {
        foreach (var step in steps)
        {
            ids = step.Process(ids);
        }

        return ids;
    }
}

/// <summary>A post-processor that leaves the ids alone (ByteLevel only trims offsets, which Attune does not track).</summary>
internal sealed class IdentityPostProcessor : PostProcessor
{
    public override int[] Process(int[] ids) => ids;
}
