using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Gateway.Server.Contracts;

/// <summary>A user to create or update.</summary>
public sealed class UserRequest
{
    /// <summary>Tags: <c>administrator</c> (users, vhosts, permissions, definitions), <c>management</c> (overview, metrics); also accepted: monitoring, policymaker.</summary>
    [MaxLength(8)] public List<string> Tags { get; set; } = [];
}

/// <summary>A user.</summary>
public sealed class UserDto
{
    /// <summary>The user name.</summary>
    public required string Name { get; set; }
    /// <summary>Its tags.</summary>
    public required IReadOnlyList<string> Tags { get; set; }
    /// <summary>When it was created.</summary>
    public required DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A key to create.</summary>
public sealed class KeyRequest
{
    /// <summary>What the key is for (shown in lists), up to 255 characters.</summary>
    [MaxLength(255)] public string? Description { get; set; }
    /// <summary>When the key stops working; none by default. Must be in the future.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary>An API key as listed: never its secret.</summary>
public sealed class KeyDto
{
    /// <summary>The key's public id (the characters after <c>gw_</c>).</summary>
    public required string Id { get; set; }
    /// <summary>Its user.</summary>
    public required string User { get; set; }
    /// <summary>What it is for.</summary>
    public string? Description { get; set; }
    /// <summary>When it was created.</summary>
    public required DateTimeOffset CreatedAt { get; set; }
    /// <summary>When it stops working, if ever.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
    /// <summary>When it was revoked, if it was.</summary>
    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>A new key: the only time its secret is shown.</summary>
public sealed class CreatedKeyDto
{
    /// <summary>The key as listed.</summary>
    public required KeyDto Info { get; set; }
    /// <summary>The key itself: <c>Authorization: Bearer &lt;key&gt;</c>. Store it now; it cannot be shown again.</summary>
    public required string Key { get; set; }
}

/// <summary>Permissions in a vhost: regular expressions over resource names, as RabbitMQ's (unanchored; "" matches nothing).</summary>
public sealed class PermissionRequest
{
    /// <summary>Declare and delete exchanges and queues whose names match.</summary>
    [JsonRequired, MaxLength(1024)] public string Configure { get; set; } = "";
    /// <summary>Publish to exchanges, bind to queues and exchanges whose names match.</summary>
    [JsonRequired, MaxLength(1024)] public string Write { get; set; } = "";
    /// <summary>Get from, consume from and purge queues, bind from exchanges whose names match.</summary>
    [JsonRequired, MaxLength(1024)] public string Read { get; set; } = "";
}

/// <summary>A user's permissions in a vhost.</summary>
public sealed class PermissionDto
{
    /// <summary>The user.</summary>
    public required string User { get; set; }
    /// <summary>The vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>Configure expression.</summary>
    public required string Configure { get; set; }
    /// <summary>Write expression.</summary>
    public required string Write { get; set; }
    /// <summary>Read expression.</summary>
    public required string Read { get; set; }
}

/// <summary>A single-use ticket for a WebSocket or event stream (<c>?ticket=</c>).</summary>
public sealed class TicketDto
{
    /// <summary>The ticket.</summary>
    public required string Ticket { get; set; }
    /// <summary>It must be used before this time.</summary>
    public required DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>Who is calling.</summary>
public sealed class WhoAmIDto
{
    /// <summary>The user name (null when authentication is off).</summary>
    public string? User { get; set; }
    /// <summary>Its tags.</summary>
    public required IReadOnlyList<string> Tags { get; set; }
    /// <summary>The key used, by id.</summary>
    public string? KeyId { get; set; }
    /// <summary>False when the server runs with authentication off.</summary>
    public required bool AuthenticationEnabled { get; set; }
}
