using Attune.Cli;

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl-C asks the running verb to stop cleanly; a second one kills the process.
    if (!cts.IsCancellationRequested)
    {
        e.Cancel = true;
        cts.Cancel();
    }
};

return await new CliApp().RunAsync(args, cts.Token);
