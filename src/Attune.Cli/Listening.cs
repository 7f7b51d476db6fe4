using Attune.Core.Errors;
using Microsoft.AspNetCore.Connections;

namespace Attune.Cli;

/// <summary>The servers' start-up failures that are the user's to fix: an address in use or one this machine does not have.</summary>
internal static class Listening
{
    /// <summary>
    /// Runs <paramref name="serve"/>; a failure to bind <paramref name="urls"/> (a port in use, an
    /// address not on this machine) becomes one line naming <c>--urls</c> (exit 2) instead of a trace.
    /// </summary>
    public static async Task ServeAsync(string urls, Func<Task> serve)
    {
        try
        {
            await serve();
        }
        catch (Exception ex) when (ex is AddressInUseException || ex.InnerException is AddressInUseException)
        {
            throw new AttuneInputException($"--urls {urls}: cannot listen: the address is in use (another server on that port?)", ex);
        }
        catch (IOException ex) when (ex.Message.StartsWith("Failed to bind", StringComparison.Ordinal) || ex.InnerException is System.Net.Sockets.SocketException)
        {
            throw new AttuneInputException($"--urls {urls}: cannot listen: {(ex.InnerException?.Message ?? ex.Message).Split('\n')[0].TrimEnd('.')}", ex);
        }
    }
}
