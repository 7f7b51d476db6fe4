namespace Attune.Core.Statistics;

/// <summary>Ranking helpers.</summary>
public static class Ranks
{
    /// <summary>1-based ranks with ties given the average of the ranks they span (R's <c>rank(ties.method = "average")</c>).</summary>
    public static double[] Average(ReadOnlySpan<double> values)
    {
        Validate.Finite(values, nameof(values));
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = values.ToArray();
        Array.Sort((double[])keys.Clone(), order);
        var ranks = new double[n];
        int start = 0;
        while (start < n)
        {
            int end = start + 1;
            while (end < n && keys[order[end]] == keys[order[start]]) end++;
            double rank = (start + 1 + end) / 2.0; // mean of start+1 .. end
            for (int i = start; i < end; i++) ranks[order[i]] = rank;
            start = end;
        }
        return ranks;
    }

    /// <summary>The sizes of the groups of tied values (only groups of 2 or more).</summary>
    internal static List<int> TieGroups(ReadOnlySpan<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        var groups = new List<int>();
        int start = 0;
        while (start < sorted.Length)
        {
            int end = start + 1;
            while (end < sorted.Length && sorted[end] == sorted[start]) end++;
            if (end - start > 1) groups.Add(end - start);
            start = end;
        }
        return groups;
    }
}
