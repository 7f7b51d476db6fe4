using System.Runtime.InteropServices;
using Attune.Cli;

using var cts = new CancellationTokenSource();

// Ctrl-C (SIGINT) and SIGTERM ask the running verb to stop cleanly: it observes the token, keeps
// what it wrote consistent and exits 130. A second signal, when the verb is slow to stop, ends
// the process at once with 130 (never the runtime's own handling, which can abort with 134).
void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    if (cts.IsCancellationRequested)
    {
        Environment.Exit(CliApp.Cancelled);
    }

    cts.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
return await new CliApp().RunAsync(args, cts.Token);
