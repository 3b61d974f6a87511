-- AlterTable
ALTER TABLE `Post` ADD COLUMN `content` TEXT NULL,
    ADD COLUMN `subtitle` VARCHAR(191) NULL,
    ADD COLUMN `viewCount` INTEGER NULL;
