namespace Attune.Cli.Commands;

public sealed partial class AgentCommands
{
    private static void AddAgentCommands(CliApp app)
    {
        _ = app;
    }
}
