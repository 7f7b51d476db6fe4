namespace Attune.Core.Statistics;

/// <summary>Argument checks shared by the statistics functions; each throws with a message a person can act on.</summary>
internal static class Validate
{
    public static void NotEmpty<T>(ReadOnlySpan<T> values, string name)
    {
        if (values.IsEmpty)
            throw new ArgumentException($"{name} is empty: at least one value is needed.", name);
    }

    public static void Finite(ReadOnlySpan<double> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"{name}[{i}] is {values[i]}: values must be finite numbers.", name);
        }
    }

    public static void Categories(int categories, string name = "categories")
    {
        if (categories < 2)
            throw new ArgumentException($"{name} is {categories}: a categorical test needs at least 2 categories.", name);
    }

    public static void Permutations(int permutations, string name = "permutations")
    {
        if (permutations < 1)
            throw new ArgumentException($"{name} is {permutations}: at least 1 permutation is needed.", name);
    }

    public static void CategoryIndices(ReadOnlySpan<int> answers, int categories, string name)
    {
        NotEmpty(answers, name);
        for (int i = 0; i < answers.Length; i++)
        {
            if ((uint)answers[i] >= (uint)categories)
                throw new ArgumentException($"{name}[{i}] is {answers[i]}: category indices must lie in 0..{categories - 1}.", name);
        }
    }

    public static void Counts(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        if (countsA.Length != countsB.Length)
            throw new ArgumentException($"the two count vectors have different lengths ({countsA.Length} and {countsB.Length}).", nameof(countsB));
        Categories(countsA.Length, "number of categories (count vector length)");
        long totalA = 0, totalB = 0;
        for (int k = 0; k < countsA.Length; k++)
        {
            if (countsA[k] < 0)
                throw new ArgumentException($"countsA[{k}] is {countsA[k]}: counts cannot be negative.", nameof(countsA));
            if (countsB[k] < 0)
                throw new ArgumentException($"countsB[{k}] is {countsB[k]}: counts cannot be negative.", nameof(countsB));
            totalA += countsA[k];
            totalB += countsB[k];
        }
        if (totalA == 0)
            throw new ArgumentException("countsA sums to 0: the first group has no answers.", nameof(countsA));
        if (totalB == 0)
            throw new ArgumentException("countsB sums to 0: the second group has no answers.", nameof(countsB));
    }

    public static void Probability(double value, string name)
    {
        if (!(value > 0 && value < 1))
            throw new ArgumentException($"{name} is {value}: it must lie strictly between 0 and 1.", name);
    }
}
