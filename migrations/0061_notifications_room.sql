-- Room in the outbox's pages for a claim's lease: a claim sets only `locked_until`, which no
-- index holds, so with free space on the page its new row version stays there (a HOT update)
-- instead of a new entry in each of the table's indexes. Rows written from now on leave 30 %.
ALTER TABLE notifications SET (fillfactor = 70);
