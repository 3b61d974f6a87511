ALTER TABLE `customers` ADD `nickname` varchar(50);
--> statement-breakpoint
SELECT SLEEP(3);
