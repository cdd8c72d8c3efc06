-- Commit the transaction that transaction/begin.sql opened.
commit transaction
