using System.Globalization;
using System.Text;

namespace Attune.Optimization;

/// <summary>
/// The CPLEX LP format as written by Gurobi, CPLEX, HiGHS, PuLP and OR-Tools: objective, constraints
/// (coefficients on either side, repeated variables, ranged rows <c>lo &lt;= expr &lt;= hi</c>),
/// bounds (<c>free</c>, <c>-inf</c>, <c>inf</c>), <c>Generals</c>, <c>Binaries</c>, <c>\</c> comments.
/// Statements may span lines. Errors name the line and column.
/// </summary>
public static class LpFormat
{
    private enum Section { None, Objective, Constraints, Bounds, Generals, Binaries, End }

    private enum Kind { Number, Name, Sign, Op, Colon, Other }

    private sealed record Token(Kind Kind, string Text, int Line, int Column, bool FirstOnLine)
    {
        public double Value { get; init; }
    }

    public static Formulation Read(string path) => Parse(File.ReadAllText(path), path, Path.GetFileNameWithoutExtension(path));

    /// <summary>Parses LP text; <paramref name="file"/> names the source in error messages.</summary>
    public static Formulation Parse(string text, string? file = null, string name = "model")
    {
        var builder = new FormulationBuilder(name);
        var sections = new List<(Section Section, List<Token> Tokens, int Line, int Column)>();
        var current = Section.None;
        var objectiveSense = ObjectiveSense.Minimize;
        List<Token>? tokens = null;
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var li = 0; li < lines.Length; li++)
        {
            var line = lines[li];
            var cut = line.IndexOf('\\', StringComparison.Ordinal);
            if (cut >= 0)
            {
                line = line[..cut];
            }

            var (section, rest) = Header(line);
            var restColumn = 1;
            if (section is { } s)
            {
                restColumn = line.Length - rest.Length + 1;
                if (s == Section.End)
                {
                    current = Section.End;
                    tokens = null;
                    if (!string.IsNullOrWhiteSpace(rest))
                    {
                        throw new FormulationParseException("text after 'End'", file, li + 1, restColumn);
                    }

                    continue;
                }

                if (s == Section.Objective && sections.Any(x => x.Section == Section.Objective))
                {
                    throw new FormulationParseException("a second objective section", file, li + 1, 1);
                }

                current = s;
                tokens = [];
                sections.Add((s, tokens, li + 1, 1));
                if (s == Section.Objective)
                {
                    var sense = line.TrimStart()[..3].ToUpperInvariant() == "MAX" ? ObjectiveSense.Maximize : ObjectiveSense.Minimize;
                    objectiveSense = sense;
                }
            }
            else
            {
                rest = line;
            }

            if (string.IsNullOrWhiteSpace(rest))
            {
                continue;
            }

            if (current == Section.End)
            {
                throw new FormulationParseException("text after 'End'", file, li + 1, FirstNonSpace(rest) + restColumn);
            }

            if (tokens is null)
            {
                throw new FormulationParseException("expected a section such as 'Minimize' or 'Maximize' before this text", file, li + 1, FirstNonSpace(rest) + restColumn);
            }

            Tokenize(rest, li + 1, restColumn, tokens, file);
        }

        if (!sections.Any(x => x.Section == Section.Objective))
        {
            throw new FormulationParseException("no 'Minimize' or 'Maximize' section", file, 1, 1);
        }

        var sense0 = objectiveSense;
        Objective? objective = null;
        var generals = new List<Token>();
        var binaries = new List<Token>();
        var rowNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (section, toks, _, _) in sections)
        {
            var stream = new Stream(toks, file);
            switch (section)
            {
                case Section.Objective:
                    objective = ParseObjective(stream, builder, sense0);
                    break;
                case Section.Constraints:
                    while (!stream.AtEnd)
                    {
                        ParseConstraint(stream, builder, rowNames);
                    }

                    break;
                case Section.Bounds:
                    while (!stream.AtEnd)
                    {
                        ParseBound(stream, builder);
                    }

                    break;
                case Section.Generals:
                    generals.AddRange(NameList(stream));
                    break;
                case Section.Binaries:
                    binaries.AddRange(NameList(stream));
                    break;
                default:
                    break;
            }
        }

        foreach (var g in generals)
        {
            var i = builder.Get(g.Text);
            builder.Update(i, v => v with { Type = VariableType.Integer });
        }

        foreach (var b in binaries)
        {
            var i = builder.Get(b.Text);
            builder.Update(i, v => v with
            {
                Type = VariableType.Binary,
                Lower = Math.Max(v.Lower, 0),
                Upper = double.IsPositiveInfinity(v.Upper) ? 1 : Math.Min(v.Upper, 1),
            });
        }

        builder.Objective(objective!.Sense, objective.Terms, objective.Constant, objective.Name);
        return builder.Build();
    }

    private static int FirstNonSpace(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (!char.IsWhiteSpace(s[i]))
            {
                return i;
            }
        }

        return 0;
    }

    private static readonly (string Word, Section Section)[] Headers =
    [
        ("minimize", Section.Objective), ("minimise", Section.Objective), ("minimum", Section.Objective), ("min", Section.Objective),
        ("maximize", Section.Objective), ("maximise", Section.Objective), ("maximum", Section.Objective), ("max", Section.Objective),
        ("subject to", Section.Constraints), ("such that", Section.Constraints), ("s.t.", Section.Constraints), ("st.", Section.Constraints), ("st", Section.Constraints),
        ("bounds", Section.Bounds), ("bound", Section.Bounds),
        ("generals", Section.Generals), ("general", Section.Generals), ("gen", Section.Generals), ("integers", Section.Generals), ("integer", Section.Generals),
        ("binaries", Section.Binaries), ("binary", Section.Binaries), ("bin", Section.Binaries),
        ("end", Section.End),
    ];

    private static (Section? Section, string Remainder) Header(string line)
    {
        var trimmed = line.TrimStart();
        foreach (var (word, section) in Headers)
        {
            if (trimmed.Length >= word.Length && trimmed.StartsWith(word, StringComparison.OrdinalIgnoreCase)
                && (trimmed.Length == word.Length || char.IsWhiteSpace(trimmed[word.Length])))
            {
                // "min: ..." would be an objective named min; a header word is alone or followed by space.
                var rest = trimmed[word.Length..];
                if (section != Section.Objective && section != Section.End && rest.TrimStart().StartsWith(':'))
                {
                    continue;
                }

                if (section == Section.Objective && rest.TrimStart().StartsWith(':'))
                {
                    continue;
                }

                return (section, rest);
            }
        }

        return (null, line);
    }

    private static void Tokenize(string text, int line, int columnOffset, List<Token> tokens, string? file)
    {
        var first = true;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            var col = i + columnOffset;
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (char.IsDigit(c) || (c == '.' && i + 1 < text.Length && char.IsDigit(text[i + 1])))
            {
                var start = i;
                while (i < text.Length && (char.IsDigit(text[i]) || text[i] == '.'))
                {
                    i++;
                }

                if (i < text.Length && (text[i] == 'e' || text[i] == 'E'))
                {
                    var j = i + 1;
                    if (j < text.Length && (text[j] == '+' || text[j] == '-'))
                    {
                        j++;
                    }

                    if (j < text.Length && char.IsDigit(text[j]))
                    {
                        i = j;
                        while (i < text.Length && char.IsDigit(text[i]))
                        {
                            i++;
                        }
                    }
                }

                var s = text[start..i];
                if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    throw new FormulationParseException($"'{s}' is not a number", file, line, col);
                }

                tokens.Add(new Token(Kind.Number, s, line, col, first) { Value = value });
            }
            else if (c is '+' or '-')
            {
                tokens.Add(new Token(Kind.Sign, c.ToString(), line, col, first));
                i++;
            }
            else if (c is '<' or '>' or '=')
            {
                var start = i;
                i++;
                if (i < text.Length && text[i] is '=' or '<' or '>')
                {
                    i++;
                }

                var op = text[start..i];
                var normal = op switch
                {
                    "<" or "<=" or "=<" => "<=",
                    ">" or ">=" or "=>" => ">=",
                    "=" or "==" => "=",
                    _ => throw new FormulationParseException($"unknown operator '{op}'", file, line, col),
                };
                tokens.Add(new Token(Kind.Op, normal, line, col, first));
            }
            else if (c == ':')
            {
                tokens.Add(new Token(Kind.Colon, ":", line, col, first));
                i++;
            }
            else if (IsNameStart(c))
            {
                var start = i;
                while (i < text.Length && IsNameChar(text[i]))
                {
                    i++;
                }

                tokens.Add(new Token(Kind.Name, text[start..i], line, col, first));
            }
            else
            {
                var what = c switch
                {
                    '[' => "quadratic terms ('[') are not supported",
                    '*' or '^' => $"'{c}' (quadratic or product terms) is not supported",
                    _ => $"unexpected character '{c}'",
                };
                throw new FormulationParseException(what, file, line, col);
            }

            first = false;
        }
    }

    private static bool IsNameStart(char c) => char.IsLetter(c) || "!\"#$%&()/,;?@_`'{}|~".Contains(c, StringComparison.Ordinal);

    private static bool IsNameChar(char c) => IsNameStart(c) || char.IsDigit(c) || c is '.' or '[' or ']';

    private static bool IsInfinity(string name) =>
        name.Equals("inf", StringComparison.OrdinalIgnoreCase) || name.Equals("infinity", StringComparison.OrdinalIgnoreCase);

    private sealed class Stream(List<Token> tokens, string? file)
    {
        private int _at;

        public string? File => file;

        public bool AtEnd => _at >= tokens.Count;

        public Token? Peek(int ahead = 0) => _at + ahead < tokens.Count ? tokens[_at + ahead] : null;

        public Token Next() => tokens[_at++];

        public Token? Previous => _at > 0 ? tokens[_at - 1] : null;

        public FormulationParseException Error(string detail, Token? at)
        {
            at ??= tokens.Count > 0 ? tokens[^1] : null;
            return at is null ? new FormulationParseException(detail, file, 1, 1) : new FormulationParseException(detail, file, at.Line, at.Column);
        }

        public FormulationParseException ErrorAtEnd(string detail)
        {
            var last = tokens.Count > 0 ? tokens[^1] : null;
            return last is null
                ? new FormulationParseException(detail, file, 1, 1)
                : new FormulationParseException(detail, file, last.Line, last.Column + last.Text.Length);
        }
    }

    /// <summary>An expression: variable terms and a constant.</summary>
    private sealed class Expression
    {
        public List<(string Name, double Coefficient, Token At)> Terms { get; } = [];

        public double Constant { get; set; }
    }

    /// <summary>
    /// Parses terms <c>[sign] [number] [name]</c>. With <paramref name="stopAtLineEnd"/>, a term on a new
    /// line without a pending sign ends the expression (the right-hand side of a constraint).
    /// </summary>
    private static Expression ParseExpression(Stream s, bool stopAtLineEnd, bool allowNames = true)
    {
        var e = new Expression();
        var firstTerm = true;
        while (!s.AtEnd)
        {
            var t = s.Peek()!;
            if (t.Kind is Kind.Op)
            {
                break;
            }

            if (t.Kind == Kind.Name && s.Peek(1)?.Kind == Kind.Colon)
            {
                break; // the next statement's label
            }

            if (!firstTerm && t.Kind != Kind.Sign)
            {
                break; // a term without a sign starts the next statement
            }

            if (stopAtLineEnd && !firstTerm && t.FirstOnLine)
            {
                break;
            }

            var sign = 1.0;
            var sawSign = false;
            while (s.Peek()?.Kind == Kind.Sign)
            {
                sawSign = true;
                if (s.Next().Text == "-")
                {
                    sign = -sign;
                }
            }

            var next = s.Peek();
            if (next is null || next.Kind is Kind.Op or Kind.Colon)
            {
                throw sawSign ? s.ErrorAtEnd("a term is missing after the sign") : s.Error("a term is missing", next);
            }

            double? coefficient = null;
            if (next.Kind == Kind.Number)
            {
                coefficient = s.Next().Value;
                next = s.Peek();
            }

            if (next is { Kind: Kind.Name } && !(s.Peek(1)?.Kind == Kind.Colon) && !(stopAtLineEnd && coefficient is not null && next.FirstOnLine))
            {
                var nameToken = s.Next();
                if (IsInfinity(nameToken.Text))
                {
                    if (coefficient is not null)
                    {
                        throw s.Error("a coefficient before 'inf'", nameToken);
                    }

                    e.Constant += sign * double.PositiveInfinity;
                }
                else if (!allowNames)
                {
                    throw s.Error($"a variable ('{nameToken.Text}') where a number is expected", nameToken);
                }
                else
                {
                    e.Terms.Add((nameToken.Text, sign * (coefficient ?? 1), nameToken));
                }
            }
            else if (coefficient is not null)
            {
                e.Constant += sign * coefficient.Value;
            }
            else
            {
                throw s.Error(next is null ? "a term is missing" : $"unexpected '{next.Text}'", next);
            }

            firstTerm = false;
        }

        if (firstTerm)
        {
            throw s.AtEnd ? s.ErrorAtEnd("an expression is missing") : s.Error("an expression is missing", s.Peek());
        }

        return e;
    }

    private static Objective ParseObjective(Stream s, FormulationBuilder b, ObjectiveSense sense)
    {
        var name = "obj";
        if (s.Peek()?.Kind == Kind.Name && s.Peek(1)?.Kind == Kind.Colon)
        {
            name = s.Next().Text;
            s.Next();
        }

        if (s.AtEnd)
        {
            return new Objective(sense, [], 0, name);
        }

        var e = ParseExpression(s, stopAtLineEnd: false);
        if (!s.AtEnd)
        {
            throw s.Error($"unexpected '{s.Peek()!.Text}' in the objective", s.Peek());
        }

        return new Objective(sense, Formulation.Combine(e.Terms.Select(t => new Term(b.Get(t.Name), t.Coefficient))), e.Constant, name);
    }

    private static void ParseConstraint(Stream s, FormulationBuilder b, HashSet<string> rowNames)
    {
        var start = s.Peek()!;
        string? name = null;
        if (start.Kind == Kind.Name && s.Peek(1)?.Kind == Kind.Colon)
        {
            name = s.Next().Text;
            s.Next();
            if (s.AtEnd)
            {
                throw s.ErrorAtEnd($"constraint '{name}' has no expression");
            }
        }

        name ??= $"R{rowNames.Count + 1}";
        if (!rowNames.Add(name))
        {
            throw s.Error($"constraint '{name}' is defined twice", start);
        }

        var left = ParseExpression(s, stopAtLineEnd: false);
        if (s.AtEnd || s.Peek()!.Kind != Kind.Op)
        {
            throw s.AtEnd ? s.ErrorAtEnd($"constraint '{name}' needs a comparison (<=, >= or =)") : s.Error($"expected <=, >= or = in constraint '{name}'", s.Peek());
        }

        var op1 = s.Next();
        if (s.AtEnd)
        {
            throw s.ErrorAtEnd($"constraint '{name}' has no right-hand side");
        }

        var middle = ParseExpression(s, stopAtLineEnd: true);
        if (!s.AtEnd && s.Peek()!.Kind == Kind.Op)
        {
            // Ranged: lo <= expr <= hi (or hi >= expr >= lo).
            var op2 = s.Next();
            var right = ParseExpression(s, stopAtLineEnd: true, allowNames: false);
            if (left.Terms.Count > 0 || op1.Text != op2.Text || op1.Text == "=")
            {
                throw s.Error("a ranged constraint reads 'lo <= expression <= hi'", op2);
            }

            var (lo, hi) = op1.Text == "<=" ? (left.Constant, right.Constant) : (right.Constant, left.Constant);
            lo -= middle.Constant;
            hi -= middle.Constant;
            b.Row(name, middle.Terms.Select(t => new Term(b.Get(t.Name), t.Coefficient)), lo, hi);
            return;
        }

        // Move every variable to the left and every constant to the right.
        var terms = left.Terms.Select(t => new Term(b.Get(t.Name), t.Coefficient))
            .Concat(middle.Terms.Select(t => new Term(b.Get(t.Name), -t.Coefficient))).ToList();
        var rhs = middle.Constant - left.Constant;
        if (double.IsInfinity(rhs))
        {
            throw s.Error($"constraint '{name}' has an infinite right-hand side", op1);
        }

        switch (op1.Text)
        {
            case "<=":
                b.Le(name, terms, rhs);
                break;
            case ">=":
                b.Ge(name, terms, rhs);
                break;
            default:
                b.Eq(name, terms, rhs);
                break;
        }
    }

    private static double ReadBoundValue(Stream s)
    {
        var sign = 1.0;
        var t = s.Peek();
        while (t?.Kind == Kind.Sign)
        {
            if (s.Next().Text == "-")
            {
                sign = -sign;
            }

            t = s.Peek();
        }

        if (t is { Kind: Kind.Number })
        {
            s.Next();
            return sign * t.Value;
        }

        if (t is { Kind: Kind.Name } && IsInfinity(t.Text))
        {
            s.Next();
            return sign * double.PositiveInfinity;
        }

        throw t is null ? s.ErrorAtEnd("a bound value is missing") : s.Error($"expected a number, found '{t.Text}'", t);
    }

    private static void ParseBound(Stream s, FormulationBuilder b)
    {
        var t = s.Peek()!;
        if (t.Kind == Kind.Name && !IsInfinity(t.Text))
        {
            // x free | x op v | x op v op? (rare)
            s.Next();
            var index = b.Get(t.Text);
            var after = s.Peek();
            if (after is { Kind: Kind.Name } && after.Text.Equals("free", StringComparison.OrdinalIgnoreCase))
            {
                s.Next();
                b.Update(index, v => v with { Lower = double.NegativeInfinity, Upper = double.PositiveInfinity });
                return;
            }

            if (after is not { Kind: Kind.Op })
            {
                throw after is null ? s.ErrorAtEnd($"bound on '{t.Text}' needs 'free', <=, >= or =") : s.Error($"expected 'free', <=, >= or = after '{t.Text}'", after);
            }

            var op = s.Next().Text;
            var value = ReadBoundValue(s);
            Apply(b, index, op, value, variableOnLeft: true, s, after);
            return;
        }

        // v op x [op w]
        var first = ReadBoundValue(s);
        var op1 = s.Peek();
        if (op1 is not { Kind: Kind.Op })
        {
            throw op1 is null ? s.ErrorAtEnd("incomplete bound") : s.Error("expected <=, >= or =", op1);
        }

        s.Next();
        var nameToken = s.Peek();
        if (nameToken is not { Kind: Kind.Name } || IsInfinity(nameToken.Text))
        {
            throw nameToken is null ? s.ErrorAtEnd("a variable is missing in the bound") : s.Error($"expected a variable, found '{nameToken.Text}'", nameToken);
        }

        s.Next();
        var idx = b.Get(nameToken.Text);
        Apply(b, idx, op1.Text, first, variableOnLeft: false, s, op1);
        if (s.Peek() is { Kind: Kind.Op } op2 && !op2.FirstOnLine)
        {
            s.Next();
            var second = ReadBoundValue(s);
            Apply(b, idx, op2.Text, second, variableOnLeft: true, s, op2);
        }
    }

    private static void Apply(FormulationBuilder b, int index, string op, double value, bool variableOnLeft, Stream s, Token at)
    {
        // Normalise to "x op value".
        if (!variableOnLeft)
        {
            op = op switch { "<=" => ">=", ">=" => "<=", _ => op };
        }

        switch (op)
        {
            case "<=":
                if (double.IsNegativeInfinity(value))
                {
                    throw s.Error("an upper bound of -inf", at);
                }

                b.Update(index, v => v with { Upper = value });
                break;
            case ">=":
                if (double.IsPositiveInfinity(value))
                {
                    throw s.Error("a lower bound of +inf", at);
                }

                b.Update(index, v => v with { Lower = value });
                break;
            default:
                if (double.IsInfinity(value))
                {
                    throw s.Error("a variable fixed at infinity", at);
                }

                b.Update(index, v => v with { Lower = value, Upper = value });
                break;
        }
    }

    private static List<Token> NameList(Stream s)
    {
        var names = new List<Token>();
        while (!s.AtEnd)
        {
            var t = s.Next();
            if (t.Kind != Kind.Name)
            {
                throw s.Error($"expected a variable name, found '{t.Text}'", t);
            }

            names.Add(t);
        }

        return names;
    }

    // ----------------------------------------------------------------------------------- writing

    /// <summary>Writes <paramref name="f"/> in the LP format (names must be valid LP names).</summary>
    public static string Write(Formulation f)
    {
        var sb = new StringBuilder();
        sb.Append("\\ ").Append(f.Name).Append(" (written by Attune)\n");
        sb.Append(f.Objective.Sense == ObjectiveSense.Minimize ? "Minimize\n" : "Maximize\n");
        sb.Append(' ').Append(f.Objective.Name).Append(':');
        AppendTerms(sb, f, f.Objective.Terms);
        if (f.Objective.Constant != 0 || f.Objective.Terms.Count == 0)
        {
            sb.Append(' ').Append(f.Objective.Constant < 0 ? "- " : "+ ").Append(Num(Math.Abs(f.Objective.Constant)));
        }

        sb.Append("\nSubject To\n");
        foreach (var r in f.Rows)
        {
            sb.Append(' ').Append(r.Name).Append(':');
            if (r.Sense == RowSense.Ranged)
            {
                sb.Append(' ').Append(Num(r.Lower)).Append(" <=");
            }

            if (r.Terms.Count == 0)
            {
                sb.Append(" 0 ").Append(f.Variables.Count > 0 ? f.Variables[0].Name : "x");
            }

            AppendTerms(sb, f, r.Terms);
            sb.Append(r.Sense switch
            {
                RowSense.LessEqual => " <= " + Num(r.Upper),
                RowSense.GreaterEqual => " >= " + Num(r.Lower),
                RowSense.Equal => " = " + Num(r.Lower),
                _ => " <= " + Num(r.Upper),
            });
            sb.Append('\n');
        }

        sb.Append("Bounds\n");
        foreach (var v in f.Variables)
        {
            if (v.Type == VariableType.Binary && v.Lower == 0 && v.Upper == 1)
            {
                continue;
            }

            if (double.IsNegativeInfinity(v.Lower) && double.IsPositiveInfinity(v.Upper))
            {
                sb.Append(' ').Append(v.Name).Append(" free\n");
            }
            else if (v.Lower == v.Upper)
            {
                sb.Append(' ').Append(v.Name).Append(" = ").Append(Num(v.Lower)).Append('\n');
            }
            else if (v.Lower == 0 && double.IsPositiveInfinity(v.Upper))
            {
                continue;
            }
            else if (double.IsPositiveInfinity(v.Upper))
            {
                sb.Append(' ').Append(v.Name).Append(" >= ").Append(Num(v.Lower)).Append('\n');
            }
            else
            {
                sb.Append(' ').Append(Num(v.Lower)).Append(" <= ").Append(v.Name).Append(" <= ").Append(Num(v.Upper)).Append('\n');
            }
        }

        var generals = f.Variables.Where(v => v.Type == VariableType.Integer).ToList();
        if (generals.Count > 0)
        {
            sb.Append("Generals\n");
            foreach (var v in generals)
            {
                sb.Append(' ').Append(v.Name).Append('\n');
            }
        }

        var binaries = f.Variables.Where(v => v.Type == VariableType.Binary).ToList();
        if (binaries.Count > 0)
        {
            sb.Append("Binaries\n");
            foreach (var v in binaries)
            {
                sb.Append(' ').Append(v.Name).Append('\n');
            }
        }

        sb.Append("End\n");
        return sb.ToString();
    }

    private static void AppendTerms(StringBuilder sb, Formulation f, IReadOnlyList<Term> terms)
    {
        foreach (var t in terms)
        {
            sb.Append(' ').Append(t.Coefficient < 0 ? '-' : '+').Append(' ');
            var c = Math.Abs(t.Coefficient);
            if (c != 1)
            {
                sb.Append(Num(c)).Append(' ');
            }

            sb.Append(f.Variables[t.Index].Name);
        }
    }

    internal static string Num(double v) =>
        double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);
}
