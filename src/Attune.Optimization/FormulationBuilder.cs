namespace Attune.Optimization;

/// <summary>Builds a <see cref="Formulation"/> a variable and a row at a time.</summary>
public sealed class FormulationBuilder(string name)
{
    private readonly List<Variable> _variables = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<Row> _rows = [];
    private Objective _objective = new(ObjectiveSense.Minimize, []);

    public string Name { get; set; } = name;

    public int VariableCount => _variables.Count;

    public IReadOnlyList<Variable> Variables => _variables;

    public int Add(string variable, VariableType type = VariableType.Continuous, double lower = 0, double upper = double.PositiveInfinity)
    {
        if (type == VariableType.Binary)
        {
            lower = Math.Max(lower, 0);
            upper = Math.Min(upper, 1);
        }

        if (_index.ContainsKey(variable))
        {
            throw new ArgumentException($"variable '{variable}' is declared twice", nameof(variable));
        }

        _index[variable] = _variables.Count;
        _variables.Add(new Variable(variable, type, lower, upper));
        return _variables.Count - 1;
    }

    /// <summary>The index of <paramref name="variable"/>, declaring it continuous in [0, ∞) if new.</summary>
    public int Get(string variable) => _index.TryGetValue(variable, out var i) ? i : Add(variable);

    public bool Contains(string variable) => _index.ContainsKey(variable);

    public void Update(int index, Func<Variable, Variable> change) => _variables[index] = change(_variables[index]);

    public FormulationBuilder Row(string row, IEnumerable<Term> terms, double lower, double upper)
    {
        _rows.Add(new Row(row, Formulation.Combine(terms), lower, upper));
        return this;
    }

    public FormulationBuilder Le(string row, IEnumerable<Term> terms, double rhs) => Row(row, terms, double.NegativeInfinity, rhs);

    public FormulationBuilder Ge(string row, IEnumerable<Term> terms, double rhs) => Row(row, terms, rhs, double.PositiveInfinity);

    public FormulationBuilder Eq(string row, IEnumerable<Term> terms, double rhs) => Row(row, terms, rhs, rhs);

    public FormulationBuilder Objective(ObjectiveSense sense, IEnumerable<Term> terms, double constant = 0, string objectiveName = "obj")
    {
        _objective = new Objective(sense, Formulation.Combine(terms), constant, objectiveName);
        return this;
    }

    public Formulation Build() => new(Name, [.. _variables], [.. _rows], _objective);
}
