using Microsoft.Extensions.Configuration.Json;

namespace Gateway.Server.Http;

/// <summary>
/// Makes the repository's top-level appsettings.json part of the configuration when the server runs from a checkout
/// (the README's <c>dotnet run --project src/Gateway.Server</c>): it is found by walking up from the working folder
/// and from the binary's folder to the folder holding Gateway.sln. It is inserted just after the host's own JSON files,
/// so environment variables (<c>Gateway__…</c>) and the command line still override it.
/// </summary>
internal static class RepositorySettings
{
    public static string? FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")) && File.Exists(Path.Combine(dir.FullName, "appsettings.json")))
                    return dir.FullName;
        }
        return null;
    }

    public static void AddTo(ConfigurationManager configuration, string? root)
    {
        if (root is null) return;
        var sources = configuration.Sources;
        var index = 0;
        for (var i = 0; i < sources.Count; i++)
            if (sources[i] is JsonConfigurationSource) index = i + 1;
        var source = new JsonConfigurationSource { Path = "appsettings.json", Optional = true, ReloadOnChange = false };
        source.ResolveFileProvider();
        source.FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(root);
        sources.Insert(index, source);
    }
}
