namespace Attune.Core.Errors;

/// <summary>
/// Bad input from a person: a malformed file, a missing column, an unknown name. The command
/// line turns it into exit code 2 and the single line of <see cref="Exception.Message"/>,
/// which names the file, the line and the field where they are known.
/// </summary>
public class AttuneInputException : Exception
{
    public AttuneInputException(string message) : base(message) { Detail = message; }

    public AttuneInputException(string message, Exception inner) : base(message, inner) { Detail = message; }

    public AttuneInputException() : this("bad input") { }

    /// <summary>An input file that is not there: "file not found", or, for a folder given where a file is read, "is a folder, not a file".</summary>
    public static AttuneInputException FileNotFound(string path) =>
        new(System.IO.Directory.Exists(path) ? "is a folder, not a file" : "file not found", path);

    /// <summary>Bad input located in a file, optionally at a 1-based line and in a named field.</summary>
    public AttuneInputException(string detail, string? file, long? line = null, string? field = null, Exception? inner = null)
        : base(Format(detail, file, line, field), inner)
    {
        Detail = detail;
        File = file;
        Line = line;
        Field = field;
    }

    /// <summary>What is wrong, without the location.</summary>
    public string Detail { get; }

    public string? File { get; }

    public long? Line { get; }

    public string? Field { get; }

    private static string Format(string detail, string? file, long? line, string? field)
    {
        var where = file is null ? "" : line is null ? $"{file}: " : $"{file}:{line}: ";
        var what = field is null ? "" : $"field '{field}': ";
        return where + what + detail;
    }
}
