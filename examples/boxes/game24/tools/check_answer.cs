using System.Collections.Generic;
using System.Linq;

public static class CheckAnswerTool
{
    // Says whether an expression is a valid Game-of-24 answer for the numbers: only the given
    // numbers, each exactly once, with + - * / and parentheses, equal to the target exactly.
    public static string CheckAnswer(int[] numbers, string expression, int target = 24)
    {
        var used = new List<int>();
        int i = 0;
        while (i < expression.Length)
        {
            char c = expression[i];
            if (char.IsDigit(c))
            {
                int start = i;
                while (i < expression.Length && char.IsDigit(expression[i])) i++;
                used.Add(int.Parse(expression.Substring(start, i - start)));
                continue;
            }

            if ("+-*/×÷() ".IndexOf(c) < 0) return "invalid: character '" + c + "' is not allowed";
            i++;
        }

        if (!used.OrderBy(n => n).SequenceEqual(numbers.OrderBy(n => n)))
        {
            return "invalid: uses [" + string.Join(", ", used) + "] instead of each of [" + string.Join(", ", numbers) + "] once";
        }

        string value;
        try
        {
            value = Evaluate(expression);
        }
        catch (System.DivideByZeroException)
        {
            return "invalid: divides by zero";
        }
        catch (System.FormatException e)
        {
            return "invalid: " + e.Message;
        }

        return value == target.ToString() ? "correct" : "incorrect: equals " + value;
    }

    private static string Evaluate(string s)
    {
        int pos = 0;
        var v = Sum(s, ref pos);
        while (pos < s.Length && s[pos] == ' ') pos++;
        if (pos != s.Length) throw new System.FormatException("unexpected '" + s[pos] + "'");
        return v.Item2 == 1 ? v.Item1.ToString() : v.Item1 + "/" + v.Item2;
    }

    private static (long, long) Sum(string s, ref int pos)
    {
        var v = Product(s, ref pos);
        while (true)
        {
            while (pos < s.Length && s[pos] == ' ') pos++;
            if (pos < s.Length && (s[pos] == '+' || s[pos] == '-'))
            {
                char op = s[pos++];
                var r = Product(s, ref pos);
                v = Norm(op == '+' ? v.Item1 * r.Item2 + r.Item1 * v.Item2 : v.Item1 * r.Item2 - r.Item1 * v.Item2, v.Item2 * r.Item2);
            }
            else return v;
        }
    }

    private static (long, long) Product(string s, ref int pos)
    {
        var v = Atom(s, ref pos);
        while (true)
        {
            while (pos < s.Length && s[pos] == ' ') pos++;
            if (pos < s.Length && (s[pos] == '*' || s[pos] == '×')) { pos++; var r = Atom(s, ref pos); v = Norm(v.Item1 * r.Item1, v.Item2 * r.Item2); }
            else if (pos < s.Length && (s[pos] == '/' || s[pos] == '÷'))
            {
                pos++;
                var r = Atom(s, ref pos);
                if (r.Item1 == 0) throw new System.DivideByZeroException();
                v = Norm(v.Item1 * r.Item2, v.Item2 * r.Item1);
            }
            else return v;
        }
    }

    private static (long, long) Atom(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] == ' ') pos++;
        if (pos < s.Length && s[pos] == '(')
        {
            pos++;
            var v = Sum(s, ref pos);
            while (pos < s.Length && s[pos] == ' ') pos++;
            if (pos >= s.Length || s[pos] != ')') throw new System.FormatException("missing ')'");
            pos++;
            return v;
        }

        int start = pos;
        while (pos < s.Length && char.IsDigit(s[pos])) pos++;
        if (pos == start) throw new System.FormatException("expected a number");
        return (long.Parse(s.Substring(start, pos - start)), 1);
    }

    private static (long, long) Norm(long num, long den)
    {
        long a = System.Math.Abs(num), b = System.Math.Abs(den);
        while (b != 0) { long t = a % b; a = b; b = t; }
        if (a == 0) a = 1;
        if (den < 0) a = -a;
        return (num / a, den / a);
    }
}
