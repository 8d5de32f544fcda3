using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Gateway.Storage.PostgreSql.Migrations
{
    /// <inheritdoc />
    public partial class SharedState : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "api_keys",
                columns: table => new
                {
                    Id = table.Column<string>(type: "text", nullable: false),
                    User = table.Column<string>(type: "text", nullable: false),
                    SecretHash = table.Column<byte[]>(type: "bytea", nullable: false),
                    Description = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false),
                    ExpiresAt = table.Column<long>(type: "bigint", nullable: true),
                    RevokedAt = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_api_keys", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "bindings",
                columns: table => new
                {
                    Vhost = table.Column<string>(type: "text", nullable: false),
                    Id = table.Column<string>(type: "text", nullable: false),
                    Source = table.Column<string>(type: "text", nullable: false),
                    Destination = table.Column<string>(type: "text", nullable: false),
                    DestinationType = table.Column<string>(type: "text", nullable: false),
                    RoutingKey = table.Column<string>(type: "text", nullable: false),
                    Arguments = table.Column<byte[]>(type: "bytea", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_bindings", x => new { x.Vhost, x.Id });
                });

            migrationBuilder.CreateTable(
                name: "exchanges",
                columns: table => new
                {
                    Vhost = table.Column<string>(type: "text", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false),
                    Type = table.Column<string>(type: "text", nullable: false),
                    AutoDelete = table.Column<bool>(type: "boolean", nullable: false),
                    Internal = table.Column<bool>(type: "boolean", nullable: false),
                    Arguments = table.Column<byte[]>(type: "bytea", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_exchanges", x => new { x.Vhost, x.Name });
                });

            migrationBuilder.CreateTable(
                name: "permissions",
                columns: table => new
                {
                    User = table.Column<string>(type: "text", nullable: false),
                    Vhost = table.Column<string>(type: "text", nullable: false),
                    Configure = table.Column<string>(type: "text", nullable: false),
                    Write = table.Column<string>(type: "text", nullable: false),
                    Read = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_permissions", x => new { x.User, x.Vhost });
                });

            migrationBuilder.CreateTable(
                name: "queues",
                columns: table => new
                {
                    Vhost = table.Column<string>(type: "text", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false),
                    QueueId = table.Column<long>(type: "bigint", nullable: false),
                    Exclusive = table.Column<bool>(type: "boolean", nullable: false),
                    AutoDelete = table.Column<bool>(type: "boolean", nullable: false),
                    Arguments = table.Column<byte[]>(type: "bytea", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_queues", x => new { x.Vhost, x.Name });
                });

            migrationBuilder.CreateTable(
                name: "users",
                columns: table => new
                {
                    Name = table.Column<string>(type: "text", nullable: false),
                    Tags = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_users", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "vhosts",
                columns: table => new
                {
                    Name = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_vhosts", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "webhooks",
                columns: table => new
                {
                    Vhost = table.Column<string>(type: "text", nullable: false),
                    Queue = table.Column<string>(type: "text", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false),
                    Definition = table.Column<string>(type: "text", nullable: false),
                    DisabledReason = table.Column<string>(type: "text", nullable: true),
                    DisabledAt = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_webhooks", x => new { x.Vhost, x.Queue, x.Name });
                });

            migrationBuilder.CreateIndex(
                name: "IX_api_keys_User",
                table: "api_keys",
                column: "User");

            migrationBuilder.CreateIndex(
                name: "IX_queues_QueueId",
                table: "queues",
                column: "QueueId",
                unique: true);

            // Every change of users, keys or permissions, by any writer, notifies the listening gateway nodes when its
            // transaction commits (PostgresStateStore): once per statement, the payload naming the table.
            migrationBuilder.Sql("""
                CREATE FUNCTION gateway_notify_security() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('gateway_security', TG_TABLE_NAME);
                    RETURN NULL;
                END
                $$;
                """);
            foreach (var table in new[] { "users", "api_keys", "permissions" })
                migrationBuilder.Sql($"""
                    CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION gateway_notify_security();
                    """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // The triggers go with their tables.
            migrationBuilder.DropTable(
                name: "api_keys");

            migrationBuilder.DropTable(
                name: "bindings");

            migrationBuilder.DropTable(
                name: "exchanges");

            migrationBuilder.DropTable(
                name: "permissions");

            migrationBuilder.DropTable(
                name: "queues");

            migrationBuilder.DropTable(
                name: "users");

            migrationBuilder.DropTable(
                name: "vhosts");

            migrationBuilder.DropTable(
                name: "webhooks");

            migrationBuilder.Sql("DROP FUNCTION gateway_notify_security();");
        }
    }
}
