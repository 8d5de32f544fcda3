using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Storage;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Security;

/// <summary>
/// First start with an empty user table: creates the administrator (tag <c>administrator</c>, all permissions in
/// the default vhost) with the configured key (<c>Gateway:Auth:BootstrapKey</c>), or with a generated one that is
/// printed once to the console and written to <c>bootstrap-admin.key</c> in the data folder, readable by the owner only.
/// </summary>
internal static partial class Bootstrap
{
    public const string KeyFileName = "bootstrap-admin.key";

    /// <summary>Warns when authentication is off; on an empty user table, creates the administrator.</summary>
    /// <param name="users">The directory.</param>
    /// <param name="auth">Authentication settings (the configured key, if any).</param>
    /// <param name="storage">Where the data folder is (the generated key's file goes there).</param>
    /// <param name="baseUrl">Where the server listens (for the example printed with a generated key).</param>
    /// <param name="logger">The log.</param>
    public static void Run(UserDirectory users, AuthOptions auth, StorageOptions storage, string baseUrl, ILogger logger)
    {
        if (!auth.Enabled) LogAuthenticationOff(logger);
        if (!users.IsEmpty) return;
        var name = auth.BootstrapUser;
        if (auth.BootstrapKey is { Length: > 0 } configured)
        {
            try
            {
                users.PutUser(name, [Access.Administrator]);
                users.SetPermission(name, MessageBroker.DefaultVhost, ".*", ".*", ".*");
                users.AddKnownKey(name, configured, "bootstrap key from configuration");
            }
            catch (Exception e) when (e is StorageException or BrokerException && users.IsShared)
            {
                // Nodes sharing a store that start together both found it empty: the other one stored the key first.
                users.Refresh();
                if (users.IsEmpty) throw;
                LogBootstrapByAnotherNode(logger, name);
                return;
            }
            LogBootstrapConfigured(logger, name);
            return;
        }
        users.PutUser(name, [Access.Administrator]);
        users.SetPermission(name, MessageBroker.DefaultVhost, ".*", ".*", ".*");
        var (info, text) = users.CreateKey(name, "bootstrap key (generated at first start)", null);
        var path = Path.Combine(storage.DataPath, KeyFileName);
        WriteOwnerOnly(path, text + Environment.NewLine);
        // Printed directly, once, so that it reaches the terminal whatever the log format; never logged.
        Console.WriteLine();
        Console.WriteLine($"  Gateway created the administrator '{name}'. Its API key (shown once; also in {path}):");
        Console.WriteLine($"    {text}");
        Console.WriteLine($"  Use it as: curl -H \"Authorization: Bearer $(cat {path})\" {baseUrl.TrimEnd('/')}/api/vhosts");
        Console.WriteLine();
        LogBootstrapGenerated(logger, name, info.Id, path);
    }

    // Created with mode 0600 from the start (not chmod-ed after writing, which leaves a moment where others may read it).
    // A stale file from an earlier database is replaced.
    private static void WriteOwnerOnly(string path, string text)
    {
        // The data folder may not exist yet: nothing else is kept there when the backend and the store are elsewhere.
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(path, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options);
        writer.Write(text);
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Warning, Message = "Authentication is OFF (Gateway:Auth:Enabled=false): anyone who can reach the server can do anything. For local development only.")]
    private static partial void LogAuthenticationOff(ILogger logger);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "Another gateway node sharing the store created the administrator '{User}' at the same time")]
    private static partial void LogBootstrapByAnotherNode(ILogger logger, string user);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Created the administrator '{User}' with the key from Gateway:Auth:BootstrapKey")]
    private static partial void LogBootstrapConfigured(ILogger logger, string user);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Created the administrator '{User}' with a generated key (id {KeyId}), written to {Path}")]
    private static partial void LogBootstrapGenerated(ILogger logger, string user, string keyId, string path);
}
