using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Gateway.Storage.Migrations
{
    /// <inheritdoc />
    public partial class MessageJournal : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The message journal is written through Microsoft.Data.Sqlite with prepared statements (JournalWriter),
            // not EF Core; its tables are created here so that one migration history covers the whole file.
            // A message is stored once however many durable queues hold it; each queue entry points at it.
            migrationBuilder.Sql("""
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    exchange TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    properties BLOB NULL,
                    body BLOB NOT NULL
                );
                """);
            migrationBuilder.Sql("""
                CREATE TABLE queue_messages (
                    queue_id INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    message_id INTEGER NOT NULL,
                    delivery_count INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (queue_id, sequence)
                ) WITHOUT ROWID;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE queue_messages;");
            migrationBuilder.Sql("DROP TABLE messages;");
        }
    }
}
