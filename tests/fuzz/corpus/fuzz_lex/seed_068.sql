-- comment
# another
SELECT 1