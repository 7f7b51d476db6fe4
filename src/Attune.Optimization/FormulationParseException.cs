using Attune.Core.Errors;

namespace Attune.Optimization;

/// <summary>A malformed LP or MPS file: the message is one line, <c>FILE:LINE:COLUMN: what is wrong</c>.</summary>
public sealed class FormulationParseException : AttuneInputException
{
    public FormulationParseException(string detail, string? file, int line, int column)
        : base($"{file ?? "<input>"}:{line}:{column}: {detail}")
    {
        SourceFile = file;
        SourceLine = line;
        Column = column;
    }

    public FormulationParseException() : this("malformed formulation", null, 1, 1) { }

    public FormulationParseException(string message) : this(message, null, 1, 1) { }

    public FormulationParseException(string message, Exception inner) : base(message, inner) { }

    public string? SourceFile { get; }

    public int SourceLine { get; }

    public int Column { get; }
}
