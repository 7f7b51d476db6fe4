using Attune.Torch.Serving;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>
/// Serving personalised models: a checkpoint folder with a user model (<see cref="UserModelFiles"/>)
/// opened as <c>hf:DIR</c> answers each request as the user named in
/// <c>ChatOptions.AdditionalProperties["user"]</c>; no user, or a user the model does not know, gets
/// the generic representation.
/// </summary>
public static class PersonalizedEndpoints
{
    /// <summary>Makes every <c>hf:</c> client whose folder holds a user model personalised (idempotent).</summary>
    public static void Register() => TorchEndpoints.AddOpenHook(Attach);

    /// <summary>Attaches the user model in <paramref name="client"/>'s folder, when there is one.</summary>
    public static void Attach(TorchChatClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (client.Folder is not { } folder || !UserModelFiles.Exists(folder))
        {
            return;
        }

        var users = UserModelFiles.Load(folder);
        client.SoftTokensAt = UserModelFiles.SoftTokensAt(folder);
        client.SoftTokens = user =>
        {
            if (users.Tokens == 0)
            {
                return null;
            }

            using var _ = no_grad();
            return users.Embed([user]).detach();
        };
    }
}
