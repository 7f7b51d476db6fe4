using Attune.Core.Errors;

namespace Attune.Llm.Middleware;

/// <summary>
/// A replayed run asked something its exchange log never recorded. The message names the log,
/// the request's key and a preview of its last user message. It is bad input (exit 2): the log
/// does not cover this run, typically because the prompts, the options or the code changed.
/// </summary>
public sealed class ReplayMissException : AttuneInputException
{
    public ReplayMissException(string logPath, string requestKey, string preview)
        : base($"no recorded answer for request {requestKey} (last user message \"{preview}\"); "
               + "the log was recorded with other messages or options", logPath)
    {
        LogPath = logPath;
        RequestKey = requestKey;
        Preview = preview;
    }

    public ReplayMissException() : this("(unknown log)", "", "") { }

    public ReplayMissException(string message) : base(message) { LogPath = RequestKey = Preview = ""; }

    public ReplayMissException(string message, Exception inner) : base(message, inner) { LogPath = RequestKey = Preview = ""; }

    public string LogPath { get; }

    /// <summary>The full SHA-256 key of the request that missed.</summary>
    public string RequestKey { get; }

    /// <summary>The last user message, shortened.</summary>
    public string Preview { get; }
}
