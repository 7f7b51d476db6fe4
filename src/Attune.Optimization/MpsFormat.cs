using System.Globalization;
using System.Text;

namespace Attune.Optimization;

/// <summary>Fixed MPS (fields in columns 2–3, 5–12, 15–22, 25–36, 40–47, 50–61) or free MPS (fields split by spaces).</summary>
public enum MpsFlavor
{
    /// <summary>Free format, falling back to fixed columns for a file whose names contain spaces.</summary>
    Auto,
    Free,
    Fixed,
}

/// <summary>
/// The MPS format: NAME, OBJSENSE (also PuLP's <c>*SENSE:Maximize</c> comment), ROWS, COLUMNS with
/// integer MARKERs, RHS (an objective entry is minus the objective constant), RANGES, BOUNDS
/// (UP, LO, FX, FR, MI, PL, BV, LI, UI), ENDATA. Errors name the line and column.
/// </summary>
public static class MpsFormat
{
    private enum Section { None, Name, ObjSense, Rows, Columns, Rhs, Ranges, Bounds, End }

    public static Formulation Read(string path, MpsFlavor flavor = MpsFlavor.Auto) =>
        Parse(File.ReadAllText(path), path, flavor, Path.GetFileNameWithoutExtension(path));

    public static Formulation Parse(string text, string? file = null, MpsFlavor flavor = MpsFlavor.Auto, string name = "model")
    {
        if (flavor != MpsFlavor.Auto)
        {
            return ParseWith(text, file, flavor == MpsFlavor.Fixed, name);
        }

        try
        {
            return ParseWith(text, file, false, name);
        }
        catch (FormulationParseException)
        {
            try
            {
                return ParseWith(text, file, true, name);
            }
            catch (FormulationParseException)
            {
                // Report the free-format reading's error: it is the usual format.
            }

            throw;
        }
    }

    private readonly record struct Field(string Text, int Column);

    private static List<Field> Fields(string line, bool fixedColumns)
    {
        var fields = new List<Field>();
        if (!fixedColumns)
        {
            var i = 0;
            while (i < line.Length)
            {
                while (i < line.Length && char.IsWhiteSpace(line[i]))
                {
                    i++;
                }

                if (i >= line.Length)
                {
                    break;
                }

                var start = i;
                while (i < line.Length && !char.IsWhiteSpace(line[i]))
                {
                    i++;
                }

                fields.Add(new Field(line[start..i], start + 1));
            }

            return fields;
        }

        // Fixed: 1-based columns 2-3, 5-12, 15-22, 25-36, 40-47, 50-61.
        (int From, int To)[] spans = [(2, 3), (5, 12), (15, 22), (25, 36), (40, 47), (50, 61)];
        foreach (var (from, to) in spans)
        {
            if (line.Length < from)
            {
                fields.Add(new Field("", from));
                continue;
            }

            var end = Math.Min(line.Length, to);
            fields.Add(new Field(line[(from - 1)..end].Trim(), from));
        }

        // Drop trailing empty fields so the count says what is there.
        while (fields.Count > 0 && fields[^1].Text.Length == 0)
        {
            fields.RemoveAt(fields.Count - 1);
        }

        return fields;
    }

    private static Formulation ParseWith(string text, string? file, bool fixedColumns, string name)
    {
        var b = new FormulationBuilder(name);
        var section = Section.None;
        var sense = ObjectiveSense.Minimize;
        string? objectiveRow = null;
        var rowOrder = new List<string>();
        var rowTypes = new Dictionary<string, char>(StringComparer.Ordinal);
        var rowTerms = new Dictionary<string, List<Term>>(StringComparer.Ordinal);
        var rhs = new Dictionary<string, double>(StringComparer.Ordinal);
        var ranges = new Dictionary<string, double>(StringComparer.Ordinal);
        var objectiveTerms = new List<Term>();
        var objectiveConstant = 0.0;
        var integerBlock = false;
        var boundsSet = new HashSet<int>();
        var sawEnd = false;
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');

        for (var li = 0; li < lines.Length; li++)
        {
            var raw = lines[li].TrimEnd();
            var lineNo = li + 1;
            if (raw.StartsWith('*'))
            {
                if (raw.StartsWith("*SENSE:", StringComparison.OrdinalIgnoreCase))
                {
                    sense = raw[7..].Trim().StartsWith("Max", StringComparison.OrdinalIgnoreCase) ? ObjectiveSense.Maximize : ObjectiveSense.Minimize;
                }

                continue;
            }

            if (raw.Trim().Length == 0)
            {
                continue;
            }

            FormulationParseException Error(string detail, int column = 1) => new(detail, file, lineNo, column);

            if (sawEnd)
            {
                throw Error("text after ENDATA");
            }

            if (!char.IsWhiteSpace(raw[0]))
            {
                // A section header.
                var words = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                var head = words[0].ToUpperInvariant();
                switch (head)
                {
                    case "NAME":
                        section = Section.Name;
                        if (raw.Length > 4)
                        {
                            var n = raw[4..].Trim();
                            if (n.Length > 0)
                            {
                                b.Name = n;
                            }
                        }

                        break;
                    case "OBJSENSE":
                        section = Section.ObjSense;
                        if (words.Length > 1)
                        {
                            sense = ParseSense(words[1], Error, raw.IndexOf(words[1], 8, StringComparison.Ordinal) + 1);
                        }

                        break;
                    case "OBJSENCE":
                        section = Section.ObjSense;
                        break;
                    case "ROWS":
                        section = Section.Rows;
                        break;
                    case "COLUMNS":
                        section = Section.Columns;
                        break;
                    case "RHS":
                        section = Section.Rhs;
                        break;
                    case "RANGES":
                        section = Section.Ranges;
                        break;
                    case "BOUNDS":
                        section = Section.Bounds;
                        break;
                    case "ENDATA":
                        sawEnd = true;
                        section = Section.End;
                        break;
                    case "OBJNAME":
                        throw Error("OBJNAME is not supported");
                    default:
                        throw Error($"unknown section '{words[0]}'");
                }

                continue;
            }

            var f = Fields(raw, fixedColumns);
            if (fixedColumns && section is Section.Columns or Section.Rhs or Section.Ranges && f.Count > 0 && f[0].Text.Length == 0)
            {
                // Field 1 (columns 2-3) is empty on these lines; in COLUMNS every empty field is padding.
                f.RemoveAt(0);
                if (section == Section.Columns)
                {
                    f.RemoveAll(x => x.Text.Length == 0);
                }
            }

            if (f.Count == 0)
            {
                continue;
            }

            double Number(Field field)
            {
                if (!double.TryParse(field.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    throw Error($"'{field.Text}' is not a number", field.Column);
                }

                return v;
            }

            switch (section)
            {
                case Section.ObjSense:
                    sense = ParseSense(raw.Trim(), Error, raw.Length - raw.TrimStart().Length + 1);
                    break;
                case Section.Rows:
                {
                    if (f.Count != 2)
                    {
                        throw Error("a ROWS line is 'TYPE NAME'", f[0].Column);
                    }

                    var type = char.ToUpperInvariant(f[0].Text[0]);
                    if (f[0].Text.Length != 1 || "NLGE".IndexOf(type, StringComparison.Ordinal) < 0)
                    {
                        throw Error($"row type '{f[0].Text}' is not N, L, G or E", f[0].Column);
                    }

                    var row = f[1].Text;
                    if (rowTypes.ContainsKey(row))
                    {
                        throw Error($"row '{row}' is declared twice", f[1].Column);
                    }

                    if (type == 'N')
                    {
                        if (objectiveRow is null)
                        {
                            objectiveRow = row;
                            rowTypes[row] = 'N';
                        }
                        else
                        {
                            rowTypes[row] = 'n'; // further free rows are ignored
                        }

                        break;
                    }

                    rowTypes[row] = type;
                    rowOrder.Add(row);
                    rowTerms[row] = [];
                    break;
                }

                case Section.Columns:
                {
                    if (f.Count >= 3 && f[1].Text.Trim('\'') == "MARKER")
                    {
                        var marker = f[2].Text.Trim('\'').ToUpperInvariant();
                        integerBlock = marker switch
                        {
                            "INTORG" => true,
                            "INTEND" => false,
                            _ => throw Error($"unknown marker '{f[2].Text}'", f[2].Column),
                        };
                        break;
                    }

                    if (f.Count is not (3 or 5))
                    {
                        throw Error("a COLUMNS line is 'COLUMN ROW VALUE [ROW VALUE]'", f[Math.Min(f.Count - 1, 3)].Column);
                    }

                    var column = f[0].Text;
                    int index;
                    if (b.Contains(column))
                    {
                        index = b.Get(column);
                    }
                    else
                    {
                        index = b.Add(column, integerBlock ? VariableType.Integer : VariableType.Continuous);
                    }

                    for (var k = 1; k + 1 < f.Count; k += 2)
                    {
                        var row = f[k].Text;
                        var value = Number(f[k + 1]);
                        if (!rowTypes.TryGetValue(row, out var type))
                        {
                            throw Error($"row '{row}' is not declared in ROWS", f[k].Column);
                        }

                        if (type == 'N')
                        {
                            objectiveTerms.Add(new Term(index, value));
                        }
                        else if (type != 'n')
                        {
                            rowTerms[row].Add(new Term(index, value));
                        }
                    }

                    break;
                }

                case Section.Rhs:
                case Section.Ranges:
                {
                    // Optional set name: 2 or 4 fields without it, 3 or 5 with it.
                    var start = f.Count % 2 == 1 ? 1 : 0;
                    if (f.Count - start is not (2 or 4))
                    {
                        throw Error($"a {(section == Section.Rhs ? "RHS" : "RANGES")} line is '[SET] ROW VALUE [ROW VALUE]'", f[0].Column);
                    }

                    for (var k = start; k + 1 < f.Count; k += 2)
                    {
                        var row = f[k].Text;
                        var value = Number(f[k + 1]);
                        if (!rowTypes.TryGetValue(row, out var type))
                        {
                            throw Error($"row '{row}' is not declared in ROWS", f[k].Column);
                        }

                        if (section == Section.Rhs)
                        {
                            if (type == 'N')
                            {
                                objectiveConstant = -value;
                            }
                            else if (type != 'n')
                            {
                                rhs[row] = value;
                            }
                        }
                        else
                        {
                            if (type is 'N' or 'n')
                            {
                                throw Error($"a range on the objective row '{row}'", f[k].Column);
                            }

                            ranges[row] = value;
                        }
                    }

                    break;
                }

                case Section.Bounds:
                {
                    var type = f[0].Text.ToUpperInvariant();
                    var needsValue = type is "UP" or "LO" or "FX" or "LI" or "UI" or "BV";
                    var noValue = type is "FR" or "MI" or "PL" or "BV";
                    if (!needsValue && !noValue)
                    {
                        throw Error($"bound type '{f[0].Text}' is not UP, LO, FX, FR, MI, PL, BV, LI or UI", f[0].Column);
                    }

                    // [TYPE] [SET] COLUMN [VALUE]: the set name is optional.
                    Field column;
                    Field? valueField = null;
                    if (noValue && !needsValue)
                    {
                        column = f.Count >= 3 ? f[2] : f.Count == 2 ? f[1] : throw Error("a column is missing", f[0].Column);
                    }
                    else if (type == "BV")
                    {
                        column = f.Count >= 3 && !double.TryParse(f[2].Text, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? f[2] : f[1];
                    }
                    else if (f.Count >= 4)
                    {
                        column = f[2];
                        valueField = f[3];
                    }
                    else if (f.Count == 3)
                    {
                        column = f[1];
                        valueField = f[2];
                    }
                    else
                    {
                        throw Error($"bound '{f[0].Text}' needs a column and a value", f[0].Column);
                    }

                    if (!b.Contains(column.Text))
                    {
                        throw Error($"column '{column.Text}' is not declared in COLUMNS", column.Column);
                    }

                    var index = b.Get(column.Text);
                    var value = valueField is { } vf ? Number(vf) : 0;
                    var fresh = boundsSet.Add(index);
                    b.Update(index, v =>
                    {
                        if (fresh && v.Type == VariableType.Integer && type is not ("UP" or "LI" or "UI" or "BV"))
                        {
                            v = v with { Upper = double.PositiveInfinity };
                        }

                        return type switch
                        {
                            "UP" => v with { Upper = value, Lower = value < 0 && v.Lower == 0 ? double.NegativeInfinity : v.Lower },
                            "LO" => v with { Lower = value },
                            "FX" => v with { Lower = value, Upper = value },
                            "FR" => v with { Lower = double.NegativeInfinity, Upper = double.PositiveInfinity },
                            "MI" => v with { Lower = double.NegativeInfinity },
                            "PL" => v with { Upper = double.PositiveInfinity },
                            "BV" => v with { Type = VariableType.Binary, Lower = 0, Upper = 1 },
                            "LI" => v with { Type = VariableType.Integer, Lower = value },
                            _ => v with { Type = VariableType.Integer, Upper = value },
                        };
                    });
                    break;
                }

                case Section.Name:
                    throw Error("unexpected text after NAME", f[0].Column);
                default:
                    throw Error("data before the ROWS section", f[0].Column);
            }
        }

        if (objectiveRow is null && rowOrder.Count == 0)
        {
            throw new FormulationParseException("no ROWS section", file, lines.Length, 1);
        }

        foreach (var row in rowOrder)
        {
            var type = rowTypes[row];
            var r = rhs.GetValueOrDefault(row);
            double lo, hi;
            switch (type)
            {
                case 'L':
                    (lo, hi) = (double.NegativeInfinity, r);
                    break;
                case 'G':
                    (lo, hi) = (r, double.PositiveInfinity);
                    break;
                default:
                    (lo, hi) = (r, r);
                    break;
            }

            if (ranges.TryGetValue(row, out var range))
            {
                (lo, hi) = type switch
                {
                    'L' => (r - Math.Abs(range), r),
                    'G' => (r, r + Math.Abs(range)),
                    _ => range >= 0 ? (r, r + range) : (r + range, r),
                };
            }

            b.Row(row, rowTerms[row], lo, hi);
        }

        b.Objective(sense, objectiveTerms, objectiveConstant, objectiveRow ?? "obj");
        return b.Build();
    }

    private static ObjectiveSense ParseSense(string word, Func<string, int, FormulationParseException> error, int column) =>
        word.ToUpperInvariant() switch
        {
            "MAX" or "MAXIMIZE" or "MAXIMISE" => ObjectiveSense.Maximize,
            "MIN" or "MINIMIZE" or "MINIMISE" => ObjectiveSense.Minimize,
            _ => throw error($"objective sense '{word}' is not MIN or MAX", column),
        };

    // ----------------------------------------------------------------------------------- writing

    /// <summary>Writes <paramref name="f"/> as MPS; fixed format needs names of at most 8 characters (spaces allowed), free format names without spaces.</summary>
    public static string Write(Formulation f, bool fixedFormat = false)
    {
        if (fixedFormat)
        {
            var tooLong = f.Variables.Select(v => v.Name).Concat(f.Rows.Select(r => r.Name)).Append(f.Objective.Name)
                .FirstOrDefault(n => n.Length > 8);
            if (tooLong is not null)
            {
                throw new ArgumentException($"fixed MPS allows names of at most 8 characters: '{tooLong}'", nameof(f));
            }
        }

        var sb = new StringBuilder();
        string Line(string a, string b = "", string c = "", string d = "", string e = "", string g = "")
        {
            if (!fixedFormat)
            {
                return " " + string.Join(' ', new[] { a, b, c, d, e, g }.Where(x => x.Length > 0));
            }

            // Columns 2-3, 5-12, 15-22, 25-36, 40-47, 50-61.
            var s = new StringBuilder(" ").Append(a.PadRight(2)).Append(' ').Append(b.PadRight(8)).Append("  ").Append(c.PadRight(8)).Append("  ").Append(d.PadRight(12));
            if (e.Length > 0)
            {
                s.Append("   ").Append(e.PadRight(8)).Append("  ").Append(g);
            }

            return s.ToString().TrimEnd();
        }

        var objName = f.Objective.Name;
        sb.Append("NAME          ").Append(f.Name.Replace(' ', '_')).Append('\n');
        sb.Append("OBJSENSE\n    ").Append(f.Objective.Sense == ObjectiveSense.Maximize ? "MAX" : "MIN").Append('\n');
        sb.Append("ROWS\n");
        sb.Append(Line("N", objName)).Append('\n');
        foreach (var r in f.Rows)
        {
            var type = r.Sense switch { RowSense.LessEqual => "L", RowSense.GreaterEqual => "G", RowSense.Equal => "E", _ => "G" };
            sb.Append(Line(type, r.Name)).Append('\n');
        }

        sb.Append("COLUMNS\n");
        var columns = new List<(string Row, double Value)>[f.Variables.Count];
        for (var j = 0; j < columns.Length; j++)
        {
            columns[j] = [];
        }

        foreach (var t in f.Objective.Terms)
        {
            columns[t.Index].Add((objName, t.Coefficient));
        }

        foreach (var r in f.Rows)
        {
            foreach (var t in r.Terms)
            {
                columns[t.Index].Add((r.Name, t.Coefficient));
            }
        }

        var inInteger = false;
        var marker = 0;
        for (var j = 0; j < columns.Length; j++)
        {
            var v = f.Variables[j];
            if (v.IsInteger != inInteger)
            {
                sb.Append(Line("", $"M{marker++}", "'MARKER'", "", v.IsInteger ? "'INTORG'" : "'INTEND'")).Append('\n');
                inInteger = v.IsInteger;
            }

            if (columns[j].Count == 0)
            {
                // A column must appear to be declared: a zero objective entry does it.
                sb.Append(Line("", v.Name, objName, "0")).Append('\n');
            }

            foreach (var (row, value) in columns[j])
            {
                sb.Append(Line("", v.Name, row, Num(value))).Append('\n');
            }
        }

        if (inInteger)
        {
            sb.Append(Line("", $"M{marker}", "'MARKER'", "", "'INTEND'")).Append('\n');
        }

        sb.Append("RHS\n");
        if (f.Objective.Constant != 0)
        {
            sb.Append(Line("", "RHS", objName, Num(-f.Objective.Constant))).Append('\n');
        }

        foreach (var r in f.Rows)
        {
            var value = r.Sense == RowSense.LessEqual ? r.Upper : r.Lower;
            if (value != 0)
            {
                sb.Append(Line("", "RHS", r.Name, Num(value))).Append('\n');
            }
        }

        var ranged = f.Rows.Where(r => r.Sense == RowSense.Ranged).ToList();
        if (ranged.Count > 0)
        {
            sb.Append("RANGES\n");
            foreach (var r in ranged)
            {
                sb.Append(Line("", "RNG", r.Name, Num(r.Upper - r.Lower))).Append('\n');
            }
        }

        sb.Append("BOUNDS\n");
        foreach (var v in f.Variables)
        {
            if (v.Type == VariableType.Binary && v.Lower == 0 && v.Upper == 1)
            {
                sb.Append(Line("BV", "BND", v.Name)).Append('\n');
                continue;
            }

            if (v.Lower == v.Upper)
            {
                sb.Append(Line("FX", "BND", v.Name, Num(v.Lower))).Append('\n');
                continue;
            }

            if (double.IsNegativeInfinity(v.Lower) && double.IsPositiveInfinity(v.Upper))
            {
                sb.Append(Line("FR", "BND", v.Name)).Append('\n');
                continue;
            }

            if (double.IsNegativeInfinity(v.Lower))
            {
                sb.Append(Line("MI", "BND", v.Name)).Append('\n');
            }
            else if (v.Lower != 0 || v.IsInteger || v.Upper < 0)
            {
                sb.Append(Line("LO", "BND", v.Name, Num(v.Lower))).Append('\n');
            }

            if (!double.IsPositiveInfinity(v.Upper))
            {
                sb.Append(Line("UP", "BND", v.Name, Num(v.Upper))).Append('\n');
            }
            else if (v.IsInteger)
            {
                sb.Append(Line("PL", "BND", v.Name)).Append('\n');
            }
        }

        sb.Append("ENDATA\n");
        return sb.ToString();
    }

    private static string Num(double v) => LpFormat.Num(v);
}
