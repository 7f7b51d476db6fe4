namespace Attune.Core.Statistics;

/// <summary>
/// The outcome of a Monte-Carlo permutation test: the observed statistic, the p-value
/// <c>(1 + Exceedances) / (Permutations + 1)</c>, the number of permutations drawn and how many
/// of them gave a statistic at least as large as the observed one.
/// </summary>
public readonly record struct PermutationResult(double Statistic, double PValue, int Permutations, int Exceedances);

/// <summary>
/// A statistic of a 2×K contingency table given as its two rows: the category counts of the
/// first and of the second group. Larger values mean "more different".
/// </summary>
public delegate double CountStatistic(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB);
