namespace Attune.Interaction.Tests;

internal static class TestWorlds
{
    /// <summary>A world with the given preference and item rows (dimension from the first row).</summary>
    public static World Make(float[][] users, float[][] items, int topics = 1)
    {
        var d = users.Length > 0 ? users[0].Length : items[0].Length;
        var w = new World(Math.Max(1, users.Length), items.Length, d, topics);
        for (var u = 0; u < users.Length; u++)
        {
            users[u].CopyTo(w.Preference(u));
        }

        w.Preferences.CopyTo(w.InitialPreferences, 0);
        for (var i = 0; i < items.Length; i++)
        {
            items[i].CopyTo(w.Item(i));
            w.ItemTopics[i] = i % w.Topics;
        }

        w.ItemsChanged();
        return w;
    }
}
