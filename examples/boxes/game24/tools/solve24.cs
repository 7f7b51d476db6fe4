using System.Collections.Generic;
using System.Linq;
using System.Numerics;

public static class Solve24Tool
{
    // Exhaustive search over pairs: combine two of the remaining values with + - * / (exact
    // fractions), recurse on the shorter list, succeed when one value equal to the target is left.
    public static string Solve24(int[] numbers, int target = 24)
    {
        var values = numbers.Select(n => (Num: (BigInteger)n, Den: BigInteger.One, Text: n.ToString())).ToList();
        var found = Search(values, target);
        return found ?? "no solution";
    }

    private static string Search(List<(BigInteger Num, BigInteger Den, string Text)> values, int target)
    {
        if (values.Count == 1)
        {
            return values[0].Den * target == values[0].Num ? values[0].Text : null;
        }

        for (int i = 0; i < values.Count; i++)
        {
            for (int j = 0; j < values.Count; j++)
            {
                if (i == j) continue;
                var a = values[i];
                var b = values[j];
                var rest = values.Where((_, k) => k != i && k != j).ToList();
                var options = new List<(BigInteger, BigInteger, string)>();
                if (i < j)
                {
                    options.Add((a.Num * b.Den + b.Num * a.Den, a.Den * b.Den, "(" + a.Text + "+" + b.Text + ")"));
                    options.Add((a.Num * b.Num, a.Den * b.Den, "(" + a.Text + "*" + b.Text + ")"));
                }
                options.Add((a.Num * b.Den - b.Num * a.Den, a.Den * b.Den, "(" + a.Text + "-" + b.Text + ")"));
                if (!b.Num.IsZero)
                {
                    options.Add((a.Num * b.Den, a.Den * b.Num, "(" + a.Text + "/" + b.Text + ")"));
                }

                foreach (var (num, den, text) in options)
                {
                    var g = BigInteger.GreatestCommonDivisor(num, den);
                    if (g.IsZero) g = BigInteger.One;
                    if (den.Sign < 0) g = -g;
                    var next = new List<(BigInteger, BigInteger, string)>(rest) { (num / g, den / g, text) };
                    var result = Search(next, target);
                    if (result != null) return result;
                }
            }
        }

        return null;
    }
}
