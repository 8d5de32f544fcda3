using System.Text.RegularExpressions;

namespace Gateway.Server.Tests;

/// <summary>
/// Docker cannot run here, so the Dockerfile is checked against what it must do and against the README's "Run a
/// published build" steps, which the end-to-end tests exercise with the same binary (the probe command included).
/// </summary>
public sealed class DockerfileTests
{
    private static readonly string Dockerfile = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Dockerfile"));
    private static readonly string Readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));

    private static string ReadmeSection(string heading)
    {
        var start = Readme.IndexOf(heading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"README has no '{heading}' section.");
        var end = Readme.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        return end < 0 ? Readme[start..] : Readme[start..end];
    }

    private static string Instruction(string name) =>
        Regex.Match(Dockerfile, $@"^{name} (.+?)(?<!\\)$", RegexOptions.Multiline | RegexOptions.Singleline) is { Success: true } m
            ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException($"The Dockerfile has no {name}.");

    [Fact]
    public void It_builds_on_the_SDK_image_and_runs_on_the_ASP_NET_Core_runtime_image()
    {
        var stages = Regex.Matches(Dockerfile, @"^FROM (\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();

        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"], stages);
    }

    [Fact]
    public void It_runs_as_a_non_root_user_with_a_data_volume_an_exposed_port_and_a_health_check()
    {
        Assert.Equal("$APP_UID", Instruction("USER"));
        Assert.Equal("/data", Instruction("VOLUME"));
        Assert.Equal("8080 5672", Instruction("EXPOSE")); // HTTP and the AMQP listener
        Assert.Contains("Gateway__Amqp__Address=0.0.0.0", Dockerfile);
        Assert.Contains("Gateway__DataPath=/data", Dockerfile);
        Assert.Contains("Urls=http://0.0.0.0:8080", Dockerfile);
        Assert.Matches(@"HEALTHCHECK .*CMD \[""dotnet"", ""Gateway.Server.dll"", ""probe"", ""http://127.0.0.1:8080/healthz""\]",
            Regex.Replace(Dockerfile, @"\\\n\s*", " "));
        // The user must own the volume's folder before it switches to it.
        Assert.True(Dockerfile.IndexOf("chown \"$APP_UID\" /data", StringComparison.Ordinal) < Dockerfile.IndexOf("USER $APP_UID", StringComparison.Ordinal));
    }

    [Fact]
    public void Its_steps_are_the_READMEs()
    {
        var steps = ReadmeSection("## Run a published build");
        var publish = Regex.Match(Dockerfile, @"^RUN (dotnet publish .+)$", RegexOptions.Multiline).Groups[1].Value;

        Assert.Contains(publish, steps);
        Assert.Contains("cp appsettings.json /app/appsettings.json", steps);
        Assert.Contains("COPY appsettings.json /app/appsettings.json", Dockerfile);
        Assert.Contains("Urls=http://0.0.0.0:8080 Gateway__DataPath=/data dotnet Gateway.Server.dll", steps);
        Assert.Equal("[\"dotnet\", \"Gateway.Server.dll\"]", Instruction("ENTRYPOINT"));
        Assert.Contains("dotnet Gateway.Server.dll probe http://127.0.0.1:8080/healthz", steps);
    }
}
