using Microsoft.AspNetCore.StaticFiles;

namespace Gateway.Server.Http;

/// <summary>
/// The dashboard: plain ES modules and CSS in the server's <c>wwwroot</c>, served at <c>/</c> with security headers.
/// No build step: what is in <c>wwwroot</c> is what the browser runs.
/// </summary>
/// <remarks>
/// Where the files come from: <c>dotnet run</c> and tests use the project's <c>wwwroot</c> through the build's static web
/// assets manifest (it points at the source folder, so the built dll finds the files whatever its working folder is);
/// a published app (the Dockerfile) has them in <c>wwwroot</c> beside the dll, under its content root.
/// </remarks>
internal static class Dashboard
{
    /// <summary>
    /// Scripts and styles from this origin only (no inline code, no eval), fetch/WebSocket/EventSource to this origin
    /// only, and no framing (clickjacking).
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>Reads the dashboard files from the build's static web assets manifest in every environment.</summary>
    public static void AddDashboardFiles(this WebApplicationBuilder builder)
    {
        // The host does this itself only in Development; the end-to-end and browser tests run the built dll in Production.
        if (!builder.Environment.IsDevelopment()) builder.WebHost.UseStaticWebAssets();
    }

    /// <summary>Serves <c>wwwroot</c> (with <c>index.html</c> at <c>/</c>) for every path outside <c>/api</c>.</summary>
    public static void UseDashboard(this IApplicationBuilder app)
    {
        var contentTypes = new FileExtensionContentTypeProvider();
        contentTypes.Mappings[".mjs"] = "text/javascript";
        // The API's paths never name a file: keep the file-system lookups off its hot path.
        app.UseWhen(context => !context.Request.Path.StartsWithSegments("/api"), dashboard =>
        {
            dashboard.UseDefaultFiles();
            dashboard.UseStaticFiles(new StaticFileOptions
            {
                ContentTypeProvider = contentTypes,
                OnPrepareResponse = file => AddHeaders(file.Context.Response.Headers),
            });
        });
    }

    private static void AddHeaders(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        // The files are small and not fingerprinted: revalidate (ETag) so that a new version is picked up at once.
        headers.CacheControl = "no-cache";
    }
}
