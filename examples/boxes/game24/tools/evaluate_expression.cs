using System.Numerics;

public static class EvaluateExpressionTool
{
    // Evaluates + - * / (also × ÷) and parentheses over whole numbers exactly, as a fraction
    // in lowest terms ("24", "-7/3"); division by zero or a syntax error is an exception.
    public static string EvaluateExpression(string expression)
    {
        int pos = 0;
        var (num, den) = Sum(expression, ref pos);
        Skip(expression, ref pos);
        if (pos != expression.Length)
        {
            throw new System.FormatException("unexpected '" + expression[pos] + "' at " + (pos + 1));
        }

        return den.IsOne ? num.ToString() : num + "/" + den;
    }

    private static (BigInteger, BigInteger) Sum(string s, ref int pos)
    {
        var v = Product(s, ref pos);
        while (true)
        {
            Skip(s, ref pos);
            if (pos < s.Length && s[pos] == '+') { pos++; var r = Product(s, ref pos); v = Norm(v.Item1 * r.Item2 + r.Item1 * v.Item2, v.Item2 * r.Item2); }
            else if (pos < s.Length && s[pos] == '-') { pos++; var r = Product(s, ref pos); v = Norm(v.Item1 * r.Item2 - r.Item1 * v.Item2, v.Item2 * r.Item2); }
            else return v;
        }
    }

    private static (BigInteger, BigInteger) Product(string s, ref int pos)
    {
        var v = Atom(s, ref pos);
        while (true)
        {
            Skip(s, ref pos);
            if (pos < s.Length && (s[pos] == '*' || s[pos] == '×')) { pos++; var r = Atom(s, ref pos); v = Norm(v.Item1 * r.Item1, v.Item2 * r.Item2); }
            else if (pos < s.Length && (s[pos] == '/' || s[pos] == '÷'))
            {
                pos++;
                var r = Atom(s, ref pos);
                if (r.Item1.IsZero) throw new System.DivideByZeroException("division by zero");
                v = Norm(v.Item1 * r.Item2, v.Item2 * r.Item1);
            }
            else return v;
        }
    }

    private static (BigInteger, BigInteger) Atom(string s, ref int pos)
    {
        Skip(s, ref pos);
        if (pos < s.Length && s[pos] == '(')
        {
            pos++;
            var v = Sum(s, ref pos);
            Skip(s, ref pos);
            if (pos >= s.Length || s[pos] != ')') throw new System.FormatException("missing ')'");
            pos++;
            return v;
        }

        int start = pos;
        while (pos < s.Length && char.IsDigit(s[pos])) pos++;
        if (pos == start) throw new System.FormatException("expected a number at " + (pos + 1));
        return (BigInteger.Parse(s.Substring(start, pos - start)), BigInteger.One);
    }

    private static void Skip(string s, ref int pos)
    {
        while (pos < s.Length && char.IsWhiteSpace(s[pos])) pos++;
    }

    private static (BigInteger, BigInteger) Norm(BigInteger num, BigInteger den)
    {
        var g = BigInteger.GreatestCommonDivisor(num, den);
        if (g.IsZero) g = BigInteger.One;
        if (den.Sign < 0) g = -g;
        return (num / g, den / g);
    }
}
