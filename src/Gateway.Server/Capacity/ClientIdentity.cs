using Gateway.Server.Security;

namespace Gateway.Server.Capacity;

/// <summary>Whom a per-user limit counts a request against: the signed-in user, else the remote address.</summary>
internal static class ClientIdentity
{
    /// <summary><c>user:{name}</c> when signed in; <c>address:{ip}</c> otherwise (authentication off, or not signed in yet).</summary>
    public static string Of(HttpContext http) =>
        Access.UserOf(http.User) is { } user ? "user:" + user : "address:" + (http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
}
