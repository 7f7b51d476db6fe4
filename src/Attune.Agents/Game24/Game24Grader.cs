using System.Numerics;

namespace Attune.Agents.Game24;

/// <summary>The grade of one Game-of-24 answer.</summary>
public sealed record Game24Grade(bool Correct, string Reason);

/// <summary>
/// Grades Game-of-24 answers by program: the expression may contain only the given numbers
/// (each exactly once), + − × ÷ (also written -, *, x, /) and parentheses, and must equal 24
/// exactly in rational arithmetic (so 8/(3-8/3) counts). An answer like "… = 24" is graded on
/// its left side.
/// </summary>
public static class Game24Grader
{
    public static Game24Grade Grade(IReadOnlyList<int> numbers, string? answer)
    {
        ArgumentNullException.ThrowIfNull(numbers);
        if (string.IsNullOrWhiteSpace(answer))
        {
            return new(false, "no answer");
        }

        var text = answer.Trim();
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq >= 0)
        {
            text = text[..eq];
        }

        Rational value;
        List<BigInteger> used;
        try
        {
            (value, used) = ExpressionParser.Evaluate(text);
        }
        catch (FormatException ex)
        {
            return new(false, "not an arithmetic expression: " + ex.Message);
        }
        catch (DivideByZeroException)
        {
            return new(false, "divides by zero");
        }

        var want = numbers.Select(n => (BigInteger)n).OrderBy(n => n).ToList();
        used.Sort();
        if (!want.SequenceEqual(used))
        {
            return new(false, $"uses [{string.Join(", ", used)}], not each of [{string.Join(", ", want)}] exactly once");
        }

        return value == new Rational(24, 1) ? new(true, "equals 24") : new(false, $"equals {value}, not 24");
    }
}

/// <summary>An exact fraction with a positive denominator, in lowest terms.</summary>
public readonly record struct Rational
{
    public Rational(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.IsZero)
        {
            throw new DivideByZeroException();
        }

        var g = BigInteger.GreatestCommonDivisor(numerator, denominator);
        if (g.IsZero)
        {
            g = BigInteger.One;
        }

        if (denominator.Sign < 0)
        {
            g = -g;
        }

        Numerator = numerator / g;
        Denominator = denominator / g;
    }

    public BigInteger Numerator { get; }

    public BigInteger Denominator { get; }

    public static Rational operator +(Rational a, Rational b) => new(a.Numerator * b.Denominator + b.Numerator * a.Denominator, a.Denominator * b.Denominator);

    public static Rational operator -(Rational a, Rational b) => new(a.Numerator * b.Denominator - b.Numerator * a.Denominator, a.Denominator * b.Denominator);

    public static Rational operator *(Rational a, Rational b) => new(a.Numerator * b.Numerator, a.Denominator * b.Denominator);

    public static Rational operator /(Rational a, Rational b) => new(a.Numerator * b.Denominator, a.Denominator * b.Numerator);

    public static Rational operator -(Rational a) => new(-a.Numerator, a.Denominator);

    public Rational Add(Rational other) => this + other;

    public override string ToString() => Denominator.IsOne ? Numerator.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Numerator}/{Denominator}";
}

/// <summary>Recursive-descent parser of + − × ÷ expressions over non-negative integers, evaluated exactly.</summary>
internal static class ExpressionParser
{
    public static (Rational Value, List<BigInteger> Numbers) Evaluate(string text)
    {
        var p = new State(text);
        var v = p.Sum();
        p.SkipSpace();
        if (p.Pos != text.Length)
        {
            throw new FormatException($"unexpected '{text[p.Pos]}' at {p.Pos + 1}");
        }

        return (v, p.Numbers);
    }

    private sealed class State(string s)
    {
        public int Pos;

        public List<BigInteger> Numbers { get; } = [];

        public void SkipSpace()
        {
            while (Pos < s.Length && char.IsWhiteSpace(s[Pos]))
            {
                Pos++;
            }
        }

        private char Peek()
        {
            SkipSpace();
            return Pos < s.Length ? s[Pos] : '\0';
        }

        public Rational Sum()
        {
            var v = Product();
            while (true)
            {
                var c = Peek();
                if (c is '+')
                {
                    Pos++;
                    v += Product();
                }
                else if (c is '-' or '−' or '–')
                {
                    Pos++;
                    v -= Product();
                }
                else
                {
                    return v;
                }
            }
        }

        private Rational Product()
        {
            var v = Atom();
            while (true)
            {
                var c = Peek();
                if (c is '*' or '×' or 'x' or 'X' or '·')
                {
                    Pos++;
                    v *= Atom();
                }
                else if (c is '/' or '÷')
                {
                    Pos++;
                    v /= Atom();
                }
                else
                {
                    return v;
                }
            }
        }

        private Rational Atom()
        {
            var c = Peek();
            if (c is '(' or '[')
            {
                Pos++;
                var v = Sum();
                if (Peek() is not (')' or ']'))
                {
                    throw new FormatException("missing ')'");
                }

                Pos++;
                return v;
            }

            if (char.IsAsciiDigit(c))
            {
                var start = Pos;
                while (Pos < s.Length && char.IsAsciiDigit(s[Pos]))
                {
                    Pos++;
                }

                if (Pos - start > 9)
                {
                    throw new FormatException("number too long");
                }

                var n = BigInteger.Parse(s.AsSpan(start, Pos - start), System.Globalization.CultureInfo.InvariantCulture);
                Numbers.Add(n);
                return new Rational(n, 1);
            }

            throw new FormatException(c == '\0' ? "unexpected end" : $"unexpected '{c}' at {Pos + 1}");
        }
    }
}
