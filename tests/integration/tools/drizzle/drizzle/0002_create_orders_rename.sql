CREATE TABLE `orders` (
	`id` int AUTO_INCREMENT NOT NULL,
	`descr` varchar(100),
	CONSTRAINT `orders_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `orders` RENAME COLUMN `descr` TO `description`;
