namespace Gateway.Server.Http;

/// <summary>
/// <c>dotnet Gateway.Server.dll probe [URL]</c>: asks a running gateway's health endpoint and exits 0 when it answers
/// 2xx, 1 otherwise. The container's HEALTHCHECK uses it: the ASP.NET Core runtime image has no curl or wget, and this
/// needs nothing but the runtime that is there anyway.
/// </summary>
internal static class HealthProbe
{
    public const string Command = "probe";
    public const string DefaultUrl = "http://127.0.0.1:8080/healthz";

    public static int Run(IReadOnlyList<string> args)
    {
        var url = args.Count > 1 ? args[1] : DefaultUrl;
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var response = http.GetAsync(url).GetAwaiter().GetResult();
            Console.WriteLine($"{url}: {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException or UriFormatException)
        {
            Console.Error.WriteLine($"{url}: {e.Message}");
            return 1;
        }
    }
}
