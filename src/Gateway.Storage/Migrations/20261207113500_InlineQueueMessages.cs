using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Gateway.Storage.Migrations
{
    /// <inheritdoc />
    public partial class InlineQueueMessages : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A persistent message that only one durable queue holds (and that is small: JournalWriter) is written as one
            // row: its queue entry carries the content inline and message_id = 0 (ids in messages start at 1). Any other
            // keeps one row in messages and one entry per queue pointing at it, as before, so rows written before this
            // migration are read as they are. message_id stays NOT NULL with 0 as the marker because SQLite cannot make
            // a column nullable without rebuilding the table: these ADD COLUMNs change the schema only, whatever the size
            // of the journal.
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN exchange TEXT NULL;");
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN routing_key TEXT NULL;");
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN properties BLOB NULL;");
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN body BLOB NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // Inline entries get a row of their own in messages (ids above the highest one) before the columns go.
            migrationBuilder.Sql("""
                CREATE TEMP TABLE inline_ids AS
                    SELECT queue_id, sequence,
                           (SELECT COALESCE(MAX(id), 0) FROM messages) + ROW_NUMBER() OVER (ORDER BY queue_id, sequence) AS id
                    FROM queue_messages WHERE message_id = 0;
                INSERT INTO messages (id, exchange, routing_key, properties, body)
                    SELECT i.id, e.exchange, e.routing_key, e.properties, e.body
                    FROM inline_ids i JOIN queue_messages e ON e.queue_id = i.queue_id AND e.sequence = i.sequence;
                UPDATE queue_messages SET message_id =
                    (SELECT i.id FROM inline_ids i WHERE i.queue_id = queue_messages.queue_id AND i.sequence = queue_messages.sequence)
                    WHERE message_id = 0;
                DROP TABLE inline_ids;
                """);
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN body;");
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN properties;");
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN routing_key;");
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN exchange;");
        }
    }
}
